"""Archiving a site stops its billing: the live subscription is cancelled at the provider,
what was paid for is an anomaly for the operator, the owner is mailed, open checkouts are
closed; a renewal that still comes is an anomaly mailed to the admin."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import NotFound
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.gateway import SubscriptionStatus
from webmagic_core.payments.subscriptions import SubscriptionState
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.timeline import TimelineKind
from webmagic_core.testing.payments import ADMIN_EMAIL
from webmagic_core.testing.subscriptions import SubscriptionsWorld, subscriptions_world


@pytest.fixture
def world() -> SubscriptionsWorld:
    w = subscriptions_world()
    w.owned_site()
    return w


def provider_status(world: SubscriptionsWorld, provider_id: str) -> SubscriptionStatus:
    return world.gateway.get_subscription(provider_id).status


def test_archiving_a_paying_site_cancels_its_subscription_at_once(world: SubscriptionsWorld) -> None:
    sub, provider_id = world.subscribe()
    paid_through = world.subscription(sub.id).paid_through
    assert paid_through is not None

    result = world.archiver.archive("casa-rosa")

    assert result.cancelled == (provider_id,)
    assert result.not_cancelled == ()
    assert world.site().status is SiteStatus.ARCHIVED
    assert provider_status(world, provider_id) is SubscriptionStatus.CANCELLED
    assert world.subscription(sub.id).status is SubscriptionState.CANCELLED
    # What was paid for the current period is the operator's to settle.
    [anomaly] = world.payments.anomalies.list()
    assert anomaly.kind is AnomalyKind.ARCHIVED_WHILE_PAID
    assert paid_through.date().isoformat() in anomaly.summary
    assert [m.message.to for m in world.mails(EmailTemplate.ANOMALY_ALERT)] == [ADMIN_EMAIL]
    # The owner is told, with the paid time.
    [mail] = world.mails(EmailTemplate.SITE_ARCHIVED)
    [data] = [m.data for m in world.payments.mails(EmailTemplate.SITE_ARCHIVED)]
    assert data["paid_through"] == paid_through.date()
    # The timeline shows the archive and the cancellation.
    summaries = [(e.kind, e.summary) for e in world.payments.timeline.for_site("casa-rosa")]
    assert any(kind is TimelineKind.SITE and "-> archived" in text for kind, text in summaries)
    assert any(kind is TimelineKind.ANOMALY for kind, _ in summaries)
    assert mail.message.to == world.store.customers[world.owner_id()].email


def test_an_archived_sites_owner_cannot_find_the_subscription_to_cancel(world: SubscriptionsWorld) -> None:
    world.subscribe()
    world.archiver.archive("casa-rosa")
    with pytest.raises(NotFound):
        world.subscriptions.cancel(world.owner_id(), "casa-rosa")


def test_a_provider_outage_leaves_the_cancel_to_the_sweep(world: SubscriptionsWorld) -> None:
    _, provider_id = world.subscribe()
    world.gateway.fail_next(method="cancel_subscription")

    result = world.archiver.archive("casa-rosa")

    assert world.site().status is SiteStatus.ARCHIVED
    assert result.not_cancelled == (provider_id,)
    assert provider_status(world, provider_id) is SubscriptionStatus.ACTIVE
    report = world.sweep.run()
    assert report.archived_cancelled == 1
    assert provider_status(world, provider_id) is SubscriptionStatus.CANCELLED
    assert world.sweep.run().archived_cancelled == 0


def test_a_renewal_after_archiving_is_an_anomaly_and_cancels_again(world: SubscriptionsWorld) -> None:
    _, provider_id = world.subscribe()
    world.gateway.fail_next(method="cancel_subscription")
    world.archiver.archive("casa-rosa")
    period_end = world.gateway.get_subscription(provider_id).current_period_end
    assert period_end is not None
    world.clock.advance(period_end - world.clock.now())

    for event in world.provider.renew(provider_id):
        assert world.deliver(event) is not WebhookOutcome.DUPLICATE

    kinds = [a.kind for a in world.payments.anomalies.list()]
    assert AnomalyKind.PAYMENT_FOR_ARCHIVED_SITE in kinds
    [alert] = [a for a in world.payments.anomalies.list() if a.kind is AnomalyKind.PAYMENT_FOR_ARCHIVED_SITE]
    assert "refund" in alert.details
    # The event itself cancelled what should not bill any more.
    assert provider_status(world, provider_id) is SubscriptionStatus.CANCELLED
    assert world.site().status is SiteStatus.ARCHIVED


def test_archiving_closes_open_checkouts(world: SubscriptionsWorld) -> None:
    world.payments.preview("panaderia", "Panaderia")
    started = world.payments.purchases.start("panaderia", "ana@example.com")
    world.archiver.archive("panaderia")
    assert not world.gateway.is_open(started.checkout_id)
    assert world.site("panaderia").status is SiteStatus.ARCHIVED


def test_archiving_twice_or_an_unknown_site_is_not_found(world: SubscriptionsWorld) -> None:
    world.archiver.archive("casa-rosa")
    with pytest.raises(NotFound):
        world.archiver.archive("casa-rosa")
    with pytest.raises(NotFound):
        world.archiver.archive("no-such-site")


def test_the_sweep_finds_a_purchase_whose_webhook_was_lost() -> None:
    world = subscriptions_world()
    world.payments.preview("panaderia", "Panaderia")
    started = world.payments.purchases.start("panaderia", "ana@example.com")
    world.gateway.pay(started.checkout_id)  # the webhook never comes

    report = world.sweep.run()

    assert report.purchases_paid == 1
    assert world.site("panaderia").status is SiteStatus.OWNED
    # Not again within the hour: the provider is not asked every round.
    world.gateway.calls.clear()
    world.sweep.run()
    assert "list_checkouts" not in [name for name, _ in world.gateway.calls]
    world.clock.advance(world.sweep.reconcile_every)
    world.sweep.run()
    assert "list_checkouts" in [name for name, _ in world.gateway.calls]


# --- subscriptions re-read on a schedule (lost unpause, unable_to_start) ----------------------


def subscribed_world() -> tuple[SubscriptionsWorld, str]:
    world = subscriptions_world()
    world.owned_site()
    world.clock.advance(dt.timedelta(days=31))
    world.sweep.run()  # the included hosting is over
    _, provider_id = world.subscribe()
    return world, provider_id


def test_a_lost_unpause_is_found_by_the_sweep() -> None:
    world, provider_id = subscribed_world()
    for event in world.provider.pause(provider_id):
        world.deliver(event)
    assert world.site().status is SiteStatus.SUSPENDED
    world.provider.unpause(provider_id)  # its webhook is lost
    world.clock.advance(dt.timedelta(hours=7))

    world.sweep.run()

    assert world.site().status is SiteStatus.ACTIVE


def test_unable_to_start_after_the_start_stops_serving_for_free() -> None:
    world, provider_id = subscribed_world()
    assert world.site().status is SiteStatus.ACTIVE
    info = world.gateway.get_subscription(provider_id)
    assert info.current_period_end is not None
    world.clock.advance(info.current_period_end - world.clock.now() + dt.timedelta(minutes=1))
    world.gateway.put_subscription(attrs.evolve(info, status=SubscriptionStatus.UNABLE_TO_START))

    world.sweep.run()  # no webhook at all: the sweep re-reads it

    assert world.site().status is SiteStatus.SUSPENDED


def test_a_late_renewal_after_unable_to_start_serves_only_its_paid_period() -> None:
    """Found by the subscriptions machine: the renewal paid before the provider gave up
    arrives after ``unable_to_start``; the site is back for that paid period, and goes
    offline when it is over (it used to stay online for free: ``ended_at`` stayed set)."""
    world, provider_id = subscribed_world()
    renewal = world.provider.renew(provider_id)  # its webhook comes late
    for event in world.provider.unable_to_start(provider_id):
        world.deliver(event)
    assert world.site().status is SiteStatus.SUSPENDED
    for event in renewal:
        world.deliver(event)
    assert world.site().status is SiteStatus.ACTIVE
    paid_through = world.gateway.get_subscription(provider_id).current_period_end
    assert paid_through is not None
    world.clock.advance(paid_through - world.clock.now() + dt.timedelta(minutes=1))

    world.sweep.run()

    assert world.site().status is SiteStatus.SUSPENDED


def test_every_live_subscription_is_re_read_daily_at_most_a_batch_per_run() -> None:
    world, provider_id = subscribed_world()
    world.sweep.run()
    world.gateway.calls.clear()
    world.clock.advance(dt.timedelta(hours=25))  # mid-period: only the daily re-read applies
    world.sweep.batch_size = 1
    world.sweep.run()
    assert ("get_subscription", provider_id) in world.gateway.calls
