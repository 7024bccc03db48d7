"""Subscribing early keeps the time already paid for: the included hosting of a purchase
(or the rest of a cancelled period) becomes a free trial of whole weeks or months, so the
first charge falls at, never after, the end of that time; the API and the started mail say
the date."""

from __future__ import annotations

import datetime as dt

import pytest

from webmagic_adapters.payments.provider_model import subscription_event_payload
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.payments.gateway import FreeTrial, TrialInterval, trial_end, trial_within
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.testing.subscriptions import SubscriptionsWorld, subscriptions_world

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("paid_until", "trial"),
    [
        (T0 + dt.timedelta(days=30), FreeTrial(TrialInterval.WEEK, 4)),  # Jan 1 + 1 month is day 31
        (T0 + dt.timedelta(days=31), FreeTrial(TrialInterval.MONTH, 1)),
        (T0 + dt.timedelta(days=13), FreeTrial(TrialInterval.WEEK, 1)),
        (T0 + dt.timedelta(days=6, hours=23), None),
        (T0 + dt.timedelta(days=62), FreeTrial(TrialInterval.MONTH, 2)),
        (T0 - dt.timedelta(days=1), None),
    ],
)
def test_the_trial_is_the_longest_whole_period_that_fits(
    paid_until: dt.datetime, trial: FreeTrial | None
) -> None:
    found = trial_within(T0, paid_until)
    assert found == trial
    if found is not None:
        assert trial_end(T0, found) <= paid_until  # never later than the time paid for


def test_months_keep_the_day_of_the_month() -> None:
    jan31 = dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    assert trial_end(jan31, FreeTrial(TrialInterval.MONTH, 1)) == dt.datetime(2026, 2, 28, tzinfo=dt.UTC)


@pytest.fixture
def world() -> SubscriptionsWorld:
    w = subscriptions_world()
    w.owned_site()
    return w


def test_subscribing_on_the_purchase_day_charges_at_the_end_of_the_included_hosting(
    world: SubscriptionsWorld,
) -> None:
    site = world.site()
    assert site.purchased_at is not None
    hosting_ends = site.purchased_at + dt.timedelta(days=30)

    started = world.subscriptions.start(world.owner_id(), "casa-rosa")

    request = world.gateway.request_for(started.checkout_id)
    assert request.free_trial is not None
    assert started.first_charge_at == trial_end(world.clock.now(), request.free_trial)
    assert started.first_charge_at is not None
    assert hosting_ends - dt.timedelta(weeks=1) < started.first_charge_at <= hosting_ends
    assert world.subscriptions.first_charge(world.owner_id(), "casa-rosa") == started.first_charge_at

    # The customer completes the checkout: no charge now, the subscription starts.
    checkout = world.gateway.pay(started.checkout_id)
    assert checkout.subscription_id is not None
    create = subscription_event_payload(
        checkout.subscription_id, "subscription.create", created_at=world.clock.now(), customer_email=None
    )
    assert world.deliver(create) is WebhookOutcome.PROCESSED
    provider = world.gateway.get_subscription(checkout.subscription_id)
    assert provider.next_payment_attempt_at == started.first_charge_at
    [data] = [m.data for m in world.payments.mails(EmailTemplate.SUBSCRIPTION_STARTED)]
    assert data["next_billing_on"] == started.first_charge_at.date()


def test_after_the_included_hosting_the_first_charge_is_at_the_checkout(world: SubscriptionsWorld) -> None:
    world.clock.advance(dt.timedelta(days=31))
    world.sweep.run()  # the included hosting is over: suspended
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    assert world.gateway.request_for(started.checkout_id).free_trial is None
    assert started.first_charge_at == world.clock.now()


def test_resuming_carries_the_rest_of_the_cancelled_period_over(world: SubscriptionsWorld) -> None:
    world.clock.advance(dt.timedelta(days=31))
    world.sweep.run()
    sub, _ = world.subscribe()
    world.clock.advance(dt.timedelta(days=10))
    world.subscriptions.cancel(world.owner_id(), "casa-rosa")
    paid_through = world.subscription(sub.id).paid_through
    assert paid_through is not None

    resumed = world.subscriptions.start(world.owner_id(), "casa-rosa")

    trial = world.gateway.request_for(resumed.checkout_id).free_trial
    assert trial is not None
    assert resumed.first_charge_at is not None
    assert paid_through - dt.timedelta(weeks=1) < resumed.first_charge_at <= paid_through
