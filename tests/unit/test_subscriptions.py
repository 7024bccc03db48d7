"""Subscriptions against the fakes: starting one (who may, on which sites, the checkout
asked for), showing it, cancelling at period end, resuming, and every webhook path —
first payment, renewals, failure and recovery, cancellation, pause and unpause, unknown
subscriptions — with the emails each change sends, once."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import Conflict, InvalidTransition, NotFound, TransientError
from webmagic_core.lifecycle import ServeMode, SiteStatus, Trigger
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.gateway import (
    CheckoutKind,
    GatewayError,
    GatewayUnavailable,
    SubscriptionInfo,
    SubscriptionStatus,
)
from webmagic_core.payments.subscriptions import Subscription, SubscriptionState
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.subscriptions import SiteTarget, SubscriptionConfig, plan, site_target
from webmagic_core.sites import SiteContent
from webmagic_core.testing.payments import PUBLIC_URL, SITES_URL
from webmagic_core.testing.subscriptions import (
    MONTHLY,
    OWNER,
    PERIOD,
    SubscriptionsWorld,
    subscription_event_payload,
    subscription_payment_payload,
    subscriptions_world,
)

T = EmailTemplate


@pytest.fixture
def world() -> SubscriptionsWorld:
    w = subscriptions_world()
    w.owned_site()
    return w


def templates(world: SubscriptionsWorld) -> list[EmailTemplate]:
    """Customer mails after the purchase's two."""
    mails = [m.message.template for m in world.mails()]
    return [t for t in mails if t not in (T.PURCHASE_CONFIRMATION, T.WELCOME_SET_PASSWORD)]


def served(world: SubscriptionsWorld, slug: str = "casa-rosa") -> ServeMode:
    return world.payments.sites.resolve(slug).mode


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


# --- the entity -----------------------------------------------------------------------------


def info(status: SubscriptionStatus, start: dt.datetime, **changes: Any) -> SubscriptionInfo:
    base = SubscriptionInfo(
        id="su_1",
        status=status,
        current_period_start=start,
        current_period_end=start + PERIOD,
        next_payment_attempt_at=start + PERIOD,
        checkout_id="ch_1",
    )
    return attrs.evolve(base, **changes)


def new_subscription(now: dt.datetime) -> Subscription:
    return Subscription.new(site_id=uuid.uuid4(), customer_id=uuid.uuid4(), amount=MONTHLY, now=now)


def test_a_new_subscription_is_pending_and_holds_its_checkout_for_its_hold() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sub = new_subscription(now)
    assert sub.status is SubscriptionState.PENDING
    assert sub.holds_checkout(now + dt.timedelta(minutes=29))
    assert sub.is_stale(now + dt.timedelta(minutes=30))
    assert not sub.is_live
    sub.mark_expired(now)
    assert sub.status.value == "expired"
    with pytest.raises(InvalidTransition):
        sub.mark_expired(now)


def test_observing_the_provider_mirrors_it_and_counts_active_periods_as_paid() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sub = new_subscription(now)
    seen = sub.observe(info(SubscriptionStatus.ACTIVE, now), now)
    assert (seen.before, seen.after, seen.started, seen.changed) == (
        SubscriptionState.PENDING,
        SubscriptionState.ACTIVE,
        True,
        True,
    )
    assert (sub.provider_id, sub.started_at, sub.paid_through) == ("su_1", now, now + PERIOD)
    # A failed renewal opens an unpaid period: it does not count.
    later = now + PERIOD
    sub.observe(info(SubscriptionStatus.PAST_DUE, later), later)
    assert sub.paid_through == later
    assert sub.current_period_end == later + PERIOD


def test_an_older_reading_never_undoes_a_newer_one() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sub = new_subscription(now)
    sub.observe(info(SubscriptionStatus.CANCELLED, now), now + days(1))
    seen = sub.observe(info(SubscriptionStatus.ACTIVE, now), now)
    assert seen.stale
    assert not seen.changed
    assert sub.status is SubscriptionState.CANCELLED


def test_a_reading_of_another_provider_subscription_is_refused() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sub = new_subscription(now)
    sub.observe(info(SubscriptionStatus.ACTIVE, now), now)
    with pytest.raises(InvalidTransition):
        sub.observe(info(SubscriptionStatus.ACTIVE, now, id="su_2"), now)


def test_cancelled_with_paid_time_left_runs_to_its_end_then_ends() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sub = new_subscription(now)
    sub.observe(info(SubscriptionStatus.ACTIVE, now), now)
    sub.observe(info(SubscriptionStatus.CANCELLED, now), now + days(3))
    assert sub.cancel_at_period_end
    assert sub.ended_at is None
    assert site_target(sub, now + days(3)) is SiteTarget.ACTIVE
    assert not sub.close_if_over(now + days(29))
    assert site_target(sub, now + PERIOD) is SiteTarget.ENDED
    assert sub.close_if_over(now + PERIOD)
    assert sub.ended_at == now + PERIOD
    assert not sub.close_if_over(now + PERIOD)  # once


def test_a_payment_pays_for_the_current_period_only_if_it_began_with_it() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sub = new_subscription(now)
    sub.observe(info(SubscriptionStatus.PAST_DUE, now + PERIOD), now + PERIOD)
    assert sub.period_paid_by(now) is None  # the first month's payment, learnt late
    assert sub.period_paid_by(now + PERIOD + days(3)) == now + 2 * PERIOD  # the retry that worked


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        (SiteStatus.OWNED, SiteTarget.ACTIVE, [Trigger.SUBSCRIPTION_STARTED]),
        (SiteStatus.SUSPENDED, SiteTarget.ACTIVE, [Trigger.SUBSCRIPTION_STARTED]),
        (SiteStatus.PAST_DUE, SiteTarget.ACTIVE, [Trigger.PAYMENT_RECOVERED]),
        (SiteStatus.ACTIVE, SiteTarget.ACTIVE, []),
        (SiteStatus.OWNED, SiteTarget.PAST_DUE, [Trigger.SUBSCRIPTION_STARTED, Trigger.RENEWAL_FAILED]),
        (SiteStatus.SUSPENDED, SiteTarget.PAST_DUE, [Trigger.SUBSCRIPTION_STARTED, Trigger.RENEWAL_FAILED]),
        (SiteStatus.ACTIVE, SiteTarget.PAUSED, [Trigger.PAUSED]),
        (SiteStatus.PAST_DUE, SiteTarget.PAUSED, [Trigger.PAUSED]),
        (SiteStatus.OWNED, SiteTarget.PAUSED, []),  # left to the included hosting
        (SiteStatus.ACTIVE, SiteTarget.ENDED, [Trigger.SUBSCRIPTION_ENDED]),
        (SiteStatus.PAST_DUE, SiteTarget.ENDED, [Trigger.SUBSCRIPTION_ENDED]),
        (SiteStatus.OWNED, SiteTarget.ENDED, []),
        (SiteStatus.SUSPENDED, SiteTarget.ENDED, []),
        (SiteStatus.PREVIEW, SiteTarget.ACTIVE, []),
        (SiteStatus.ARCHIVED, SiteTarget.ACTIVE, []),
    ],
)
def test_plans_follow_the_lifecycle_table(
    current: SiteStatus, target: SiteTarget, expected: list[Trigger]
) -> None:
    assert plan(current, target) == expected


def test_a_plan_out_of_a_pause_prefers_unpausing() -> None:
    assert plan(SiteStatus.SUSPENDED, SiteTarget.ACTIVE, prefer_unpause=True) == [Trigger.UNPAUSED]


def test_the_config_builds_every_url_from_the_public_url() -> None:
    config = SubscriptionConfig(MONTHLY, "https://app.example.com/", "https://sites.example.com")
    sid = uuid.uuid4()
    assert config.manage_url("casa") == "https://app.example.com/portal/sites/casa/subscription"
    assert config.success_url("casa", sid).startswith(
        "https://app.example.com/portal/sites/casa/subscription?"
    )
    assert parse_qs(urlsplit(config.cancel_url("casa", sid)).query) == {
        "checkout": ["cancelled"],
        "subscription": [str(sid)],
    }
    with pytest.raises(ValueError, match="absolute"):
        SubscriptionConfig(MONTHLY, "app.example.com", SITES_URL)
    with pytest.raises(ValueError, match="positive"):
        SubscriptionConfig(MONTHLY, PUBLIC_URL, SITES_URL, checkout_hold=dt.timedelta(0))


# --- starting ---------------------------------------------------------------------------------


def test_the_owner_starts_a_monthly_checkout_for_the_configured_price(world: SubscriptionsWorld) -> None:
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    [request] = [r for r in world.gateway.created if r.kind is CheckoutKind.MONTHLY]
    assert request.amount == MONTHLY
    assert dict(request.metadata) == {
        "subscription_id": str(started.subscription_id),
        "site_id": str(world.site().id),
        "site_slug": "casa-rosa",
    }
    for url in (request.success_url, request.cancel_url):
        assert url.startswith(f"{PUBLIC_URL}/portal/sites/casa-rosa/subscription?")
    assert request.expires_at == started.expires_at
    sub = world.subscription(started.subscription_id)
    assert (sub.status, sub.checkout_id, sub.customer_id) == (
        SubscriptionState.PENDING,
        started.checkout_id,
        world.owner_id(),
    )
    assert started.checkout_url.endswith(started.checkout_id)


def test_starting_again_returns_the_open_checkout(world: SubscriptionsWorld) -> None:
    first = world.subscriptions.start(world.owner_id(), "casa-rosa")
    again = world.subscriptions.start(world.owner_id(), "casa-rosa")
    assert again == first
    assert len(world.gateway.created) == 2  # the purchase's and this one


def test_a_checkout_past_its_hold_is_replaced(world: SubscriptionsWorld) -> None:
    first = world.subscriptions.start(world.owner_id(), "casa-rosa")
    world.clock.advance(dt.timedelta(minutes=31))
    second = world.subscriptions.start(world.owner_id(), "casa-rosa")
    assert second.checkout_id != first.checkout_id
    assert world.subscription(first.subscription_id).status is SubscriptionState.EXPIRED


def test_another_customers_site_looks_like_no_site(world: SubscriptionsWorld) -> None:
    stranger = uuid.uuid4()
    for call in (world.subscriptions.start, world.subscriptions.get, world.subscriptions.cancel):
        with pytest.raises(NotFound) as error:
            call(stranger, "casa-rosa")
        with pytest.raises(NotFound) as unknown:
            call(stranger, "no-such-site")
        assert error.value.detail.replace("casa-rosa", "x") == unknown.value.detail.replace(
            "no-such-site", "x"
        )


def test_a_site_nobody_owns_and_an_archived_site_are_not_found(world: SubscriptionsWorld) -> None:
    world.payments.preview("panaderia", "Panadería")
    with pytest.raises(NotFound, match="no site has the slug 'panaderia'"):
        world.subscriptions.start(world.owner_id(), "panaderia")
    world.payments.sites.archive("casa-rosa")
    with pytest.raises(NotFound):
        world.subscriptions.start(world.owner_id(), "casa-rosa")
    with pytest.raises(NotFound):
        world.subscriptions.start(world.owner_id(), "Not A Slug!")


def test_a_live_subscription_is_a_conflict(world: SubscriptionsWorld) -> None:
    _, su = world.subscribe()
    with pytest.raises(Conflict, match="already has an active subscription"):
        world.subscriptions.start(world.owner_id(), "casa-rosa")
    for payload in world.provider.fail_renewal(su):
        world.deliver(payload)
    with pytest.raises(Conflict, match="failed payment"):
        world.subscriptions.start(world.owner_id(), "casa-rosa")
    for payload in world.provider.pause(su):
        world.deliver(payload)
    with pytest.raises(Conflict, match="paused"):
        world.subscriptions.start(world.owner_id(), "casa-rosa")


@pytest.mark.parametrize("error", [GatewayUnavailable("down"), GatewayError("refused", status=422)])
def test_a_provider_failure_expires_the_pending_subscription(
    world: SubscriptionsWorld, error: Exception
) -> None:
    world.gateway.fail_next(method="create_checkout", error=error)
    with pytest.raises(type(error)):
        world.subscriptions.start(world.owner_id(), "casa-rosa")
    [sub] = world.store.subscriptions.values()
    assert sub.status is SubscriptionState.EXPIRED
    # Nothing is held: the owner can try again at once.
    assert world.subscriptions.start(world.owner_id(), "casa-rosa").checkout_id


# --- the first payment ----------------------------------------------------------------------


def test_paying_the_checkout_activates_the_site_with_one_started_mail(world: SubscriptionsWorld) -> None:
    sub, su = world.subscribe()
    sub = world.subscription(sub.id)
    assert sub.status is SubscriptionState.ACTIVE
    assert sub.provider_id == su
    assert world.site().status is SiteStatus.ACTIVE
    assert served(world) is ServeMode.CLEAN
    assert templates(world) == [T.SUBSCRIPTION_STARTED]
    [started] = world.mails(T.SUBSCRIPTION_STARTED)
    assert started.message.to == OWNER
    assert started.data is not None
    assert started.data["next_billing_on"] == (world.clock.now() + PERIOD).date()
    [payment] = world.store.subscription_payments.values()
    assert (payment.amount, payment.period_end) == (MONTHLY, world.clock.now() + PERIOD)
    events = [e for e in world.store.events if e.to_status is SiteStatus.ACTIVE]
    assert [(e.from_status, e.reference is not None) for e in events] == [(SiteStatus.OWNED, True)]


@pytest.mark.parametrize("first", [0, 1])
def test_create_and_payment_start_it_in_either_order(world: SubscriptionsWorld, first: int) -> None:
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    _, events = world.provider.pay_checkout(started.checkout_id)
    assert world.deliver(events[first]) is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.ACTIVE
    assert world.deliver(events[1 - first]) is WebhookOutcome.PROCESSED
    assert templates(world) == [T.SUBSCRIPTION_STARTED]
    assert len(world.store.subscription_payments) == 1


def test_an_event_for_an_unlinked_subscription_is_resolved_through_the_provider(
    world: SubscriptionsWorld,
) -> None:
    """``subscription.create`` carries no metadata: the provider's checkout id finds it."""
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    su, events = world.provider.pay_checkout(started.checkout_id)
    assert world.deliver(events[1]) is WebhookOutcome.PROCESSED
    assert world.subscription(started.subscription_id).provider_id == su
    assert ("get_subscription", su) in world.gateway.calls


def test_a_subscription_nobody_knows_is_an_anomaly_once(world: SubscriptionsWorld) -> None:
    now = world.clock.now()
    stranger = SubscriptionInfo("su_stranger", SubscriptionStatus.ACTIVE, now, now + PERIOD, None, "ch_other")
    world.gateway.put_subscription(stranger)
    payload = subscription_event_payload("su_stranger", "subscription.create", created_at=now)
    assert world.deliver(payload) is WebhookOutcome.ANOMALY
    assert world.deliver(payload) is WebhookOutcome.ANOMALY  # redelivered under a new id
    [anomaly] = world.store.anomalies.values()
    assert anomaly.kind is AnomalyKind.UNKNOWN_SUBSCRIPTION
    assert anomaly.key == "unknown_subscription:su_stranger"
    # Not even the provider knows it.
    ghost = subscription_event_payload("su_ghost", "subscription.cancel", created_at=now)
    assert world.deliver(ghost) is WebhookOutcome.ANOMALY
    assert {a.key for a in world.store.anomalies.values()} == {
        "unknown_subscription:su_stranger",
        "unknown_subscription:su_ghost",
    }
    assert world.site().status is SiteStatus.OWNED


def test_a_failed_payment_of_an_unknown_subscription_is_ignored(world: SubscriptionsWorld) -> None:
    payload = subscription_payment_payload(
        "su_ghost", "pa_x", created_at=world.clock.now(), event_type="payment_intent.failed"
    )
    assert world.deliver(payload) is WebhookOutcome.IGNORED
    assert not world.store.anomalies


def test_a_provider_outage_rolls_the_delivery_back_for_a_retry(world: SubscriptionsWorld) -> None:
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    _, events = world.provider.pay_checkout(started.checkout_id)
    world.gateway.fail_next(method="get_subscription")
    with pytest.raises(TransientError):
        world.deliver(events[0], "msg_1")
    assert "msg_1" not in world.store.webhook_events
    assert world.site().status is SiteStatus.OWNED
    assert world.deliver(events[0], "msg_1") is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.ACTIVE


@pytest.mark.parametrize(
    "refusal",
    [GatewayError("Invalid or missing API keys", status=401), GatewayError("unexpected body shape")],
)
def test_a_provider_refusal_during_a_re_read_is_transient_not_an_anomaly(
    world: SubscriptionsWorld, refusal: GatewayError
) -> None:
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    _, events = world.provider.pay_checkout(started.checkout_id)
    world.gateway.fail_next(method="get_subscription", error=refusal)
    with pytest.raises(TransientError):
        world.deliver(events[0], "msg_1")
    # Nothing stored as processed, no anomaly: the provider delivers it again.
    assert "msg_1" not in world.store.webhook_events
    assert not world.store.anomalies
    assert world.deliver(events[0], "msg_1") is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.ACTIVE


def test_the_provider_is_read_before_the_transaction_opens(world: SubscriptionsWorld) -> None:
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    _, events = world.provider.pay_checkout(started.checkout_id)
    factory = world.payments.webhooks.uow
    calls = world.gateway.calls
    inside: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def watched() -> Iterator[object]:
        before = len(calls)
        try:
            with factory() as unit:
                yield unit
        finally:
            inside.extend(calls[before:])

    world.payments.webhooks.uow = watched  # type: ignore[assignment]
    calls.clear()
    for event in events:
        assert world.deliver(event) is WebhookOutcome.PROCESSED
    assert any(name == "get_subscription" for name, _ in calls)
    assert inside == []  # no provider call while a unit of work was open
    assert world.site().status is SiteStatus.ACTIVE


def test_a_duplicate_delivery_or_replay_sends_nothing_again(world: SubscriptionsWorld) -> None:
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    _, events = world.provider.pay_checkout(started.checkout_id)
    world.deliver(events[0], "msg_1")
    before = len(world.store.outbox)
    assert world.deliver(events[0], "msg_1") is WebhookOutcome.DUPLICATE
    assert world.deliver(events[0], "msg_2") is WebhookOutcome.PROCESSED
    assert world.payments.webhooks.replay("msg_1") is WebhookOutcome.PROCESSED
    assert len(world.store.outbox) == before
    assert len(world.store.subscription_payments) == 1


def test_a_checkout_paid_twice_is_reported_as_a_duplicate_subscription(world: SubscriptionsWorld) -> None:
    first = world.subscriptions.start(world.owner_id(), "casa-rosa")
    world.clock.advance(dt.timedelta(minutes=31))
    second = world.subscriptions.start(world.owner_id(), "casa-rosa")
    for checkout in (first.checkout_id, second.checkout_id):
        _, events = world.provider.pay_checkout(checkout)
        world.deliver(events[0])
    [anomaly] = world.store.anomalies.values()
    assert anomaly.kind is AnomalyKind.DUPLICATE_SUBSCRIPTION
    assert world.site().status is SiteStatus.ACTIVE
    assert [m.message.to for m in world.mails(T.ANOMALY_ALERT)]


# --- renewals, failure, recovery ----------------------------------------------------------------


def test_renewals_extend_the_period_and_send_one_receipt_each(world: SubscriptionsWorld) -> None:
    sub, su = world.subscribe()
    renewals = [world.provider.renew(su)[0] for _ in range(2)]
    for payload in renewals + renewals:  # each delivered twice, under new ids
        assert world.deliver(payload) is WebhookOutcome.PROCESSED
    sub = world.subscription(sub.id)
    assert sub.paid_through == sub.current_period_end == world.clock.now() + PERIOD
    assert templates(world) == [T.SUBSCRIPTION_STARTED, T.SUBSCRIPTION_RECEIPT, T.SUBSCRIPTION_RECEIPT]
    receipts = [m.data or {} for m in world.mails(T.SUBSCRIPTION_RECEIPT)]
    assert [data["reference"] == p["id"] for p, data in zip(renewals, receipts, strict=True)] == [
        True,
        True,
    ]
    assert len(world.store.subscription_payments) == 3


def test_a_renewal_learnt_before_the_first_payment_still_gets_its_receipt(world: SubscriptionsWorld) -> None:
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    su, events = world.provider.pay_checkout(started.checkout_id)
    [renewal] = world.provider.renew(su)
    world.deliver(renewal)
    # The only payment known is the first, as far as anyone here can tell: no receipt.
    assert templates(world) == [T.SUBSCRIPTION_STARTED]
    world.deliver(events[0])
    [receipt] = world.mails(T.SUBSCRIPTION_RECEIPT)
    assert receipt.data is not None
    assert receipt.data["reference"] == renewal["id"]


def test_a_failed_renewal_keeps_the_site_serving_and_asks_for_a_new_card(world: SubscriptionsWorld) -> None:
    sub, su = world.subscribe()
    for payload in world.provider.fail_renewal(su):
        world.deliver(payload)
    assert world.subscription(sub.id).status is SubscriptionState.PAST_DUE
    assert world.site().status is SiteStatus.PAST_DUE
    assert served(world) is ServeMode.CLEAN
    [failed] = world.mails(T.PAYMENT_FAILED)  # one, though two events came
    assert failed.data is not None
    assert failed.data["manage_url"] == "https://app.example.com/portal/sites/casa-rosa/subscription"
    assert failed.data["next_attempt_on"] == (world.clock.now() + days(3)).date()

    for payload in world.provider.recover(su):
        world.deliver(payload)
    assert world.site().status is SiteStatus.ACTIVE
    assert world.subscription(sub.id).paid_through == world.subscription(sub.id).current_period_end
    assert templates(world)[-1] is T.SUBSCRIPTION_RECEIPT
    assert not world.mails(T.SITE_RESTORED)  # it never went offline


def test_retries_exhausted_suspend_the_site_and_keep_its_versions(world: SubscriptionsWorld) -> None:
    world.payments.sites.publish("casa-rosa", SiteContent(html="<h1>Casa Rosa, v2</h1>"))
    sub, su = world.subscribe()
    for payload in world.provider.fail_renewal(su):
        world.deliver(payload)
    world.clock.advance(days(8))
    for payload in world.provider.cancel(su):
        world.deliver(payload)
    assert world.site().status is SiteStatus.SUSPENDED
    assert served(world) is ServeMode.UNAVAILABLE
    assert world.subscription(sub.id).ended_at == world.clock.now()
    assert templates(world)[-2:] == [T.SUBSCRIPTION_CANCELLED, T.SITE_SUSPENDED]
    # Everything is kept; a new subscription brings it back exactly as it was.
    assert world.site().current_version == 2
    assert len(world.store.versions) == 2
    world.subscribe()
    assert world.site().status is SiteStatus.ACTIVE
    assert world.site().current_version == 2
    assert templates(world)[-2:] == [T.SUBSCRIPTION_STARTED, T.SITE_RESTORED]


# --- cancelling -----------------------------------------------------------------------------------


def test_cancelling_keeps_the_site_online_until_the_period_ends(world: SubscriptionsWorld) -> None:
    sub, su = world.subscribe()
    period_end = world.clock.now() + PERIOD
    world.clock.advance(days(10))
    view = world.subscriptions.cancel(world.owner_id(), "casa-rosa")
    assert world.gateway.cancelled == [su]
    assert view.status is SubscriptionState.CANCELLED
    assert view.cancel_at_period_end
    assert view.ends_at == period_end
    assert world.site().status is SiteStatus.ACTIVE
    [cancelled] = world.mails(T.SUBSCRIPTION_CANCELLED)
    assert cancelled.data is not None
    assert cancelled.data["ends_on"] == period_end.date()
    # The provider's own cancel event changes nothing and sends nothing.
    for payload in world.provider.cancel(su):
        world.deliver(payload)
    assert len(world.mails(T.SUBSCRIPTION_CANCELLED)) == 1
    # Cancelling again is harmless.
    assert world.subscriptions.cancel(world.owner_id(), "casa-rosa").ends_at == period_end
    assert world.gateway.cancelled == [su]
    # At the period end the sweep suspends it.
    world.clock.current = period_end
    report = world.sweep.run()
    assert (report.subscriptions_ended, report.sites_suspended) == (1, 1)
    assert world.site().status is SiteStatus.SUSPENDED
    assert world.subscription(sub.id).ended_at == period_end


def test_cancelling_with_nothing_to_cancel_is_a_conflict(world: SubscriptionsWorld) -> None:
    with pytest.raises(Conflict, match="no subscription to cancel"):
        world.subscriptions.cancel(world.owner_id(), "casa-rosa")


def test_a_cancel_applies_even_if_the_provider_cannot_be_read_after(world: SubscriptionsWorld) -> None:
    world.subscribe()
    world.gateway.fail_next(method="get_subscription")
    view = world.subscriptions.cancel(world.owner_id(), "casa-rosa")
    assert view.status is SubscriptionState.CANCELLED
    assert view.cancel_at_period_end


def test_a_failed_provider_cancel_changes_nothing(world: SubscriptionsWorld) -> None:
    sub, _ = world.subscribe()
    world.gateway.fail_next(method="cancel_subscription")
    with pytest.raises(GatewayUnavailable):
        world.subscriptions.cancel(world.owner_id(), "casa-rosa")
    assert world.subscription(sub.id).status is SubscriptionState.ACTIVE
    assert not world.mails(T.SUBSCRIPTION_CANCELLED)


def test_resuming_before_the_end_starts_a_new_subscription_without_going_offline(
    world: SubscriptionsWorld,
) -> None:
    old, _ = world.subscribe()
    world.clock.advance(days(10))
    world.subscriptions.cancel(world.owner_id(), "casa-rosa")
    world.clock.advance(days(5))
    new, _ = world.subscribe()
    assert new.id != old.id
    assert world.subscription(new.id).status is SubscriptionState.ACTIVE
    assert world.subscriptions.get(world.owner_id(), "casa-rosa").subscription.id == new.id
    # The old one's remaining days end on their own; the site stays online throughout.
    world.clock.advance(days(20))
    world.sweep.run()
    assert world.subscription(old.id).ended_at is not None
    assert world.site().status is SiteStatus.ACTIVE
    assert not world.mails(T.SITE_SUSPENDED)
    assert [(e.from_status, e.to_status) for e in world.store.events][-1] == (
        SiteStatus.OWNED,
        SiteStatus.ACTIVE,
    )


# --- pause, unpause, reactivate ---------------------------------------------------------------------


@pytest.mark.parametrize("pause", ["subscription.pause", "subscription.paused"])
@pytest.mark.parametrize("unpause", ["subscription.unpause", "subscription.reactivate"])
def test_a_pause_suspends_the_site_and_an_unpause_restores_it(
    world: SubscriptionsWorld, pause: str, unpause: str
) -> None:
    _, su = world.subscribe()
    for payload in world.provider.pause(su, event_type=pause):
        world.deliver(payload)
    assert world.site().status is SiteStatus.SUSPENDED
    assert served(world) is ServeMode.UNAVAILABLE
    for payload in world.provider.unpause(su, event_type=unpause):
        world.deliver(payload)
    assert world.site().status is SiteStatus.ACTIVE
    transitions = [(e.from_status, e.to_status) for e in world.store.events][-2:]
    assert transitions == [
        (SiteStatus.ACTIVE, SiteStatus.SUSPENDED),
        (SiteStatus.SUSPENDED, SiteStatus.ACTIVE),
    ]
    assert world.store.events[-1].cause.endswith("is active")
    assert templates(world)[-2:] == [T.SITE_SUSPENDED, T.SITE_RESTORED]


def test_a_reactivated_cancelled_subscription_brings_the_site_back(world: SubscriptionsWorld) -> None:
    sub, su = world.subscribe()
    world.clock.advance(PERIOD + days(1))
    for payload in world.provider.cancel(su):
        world.deliver(payload)
    assert world.site().status is SiteStatus.SUSPENDED
    for payload in world.provider.unpause(su, event_type="subscription.reactivate"):
        world.deliver(payload)
    sub = world.subscription(sub.id)
    assert (sub.status, sub.ended_at, sub.cancelled_at) == (SubscriptionState.ACTIVE, None, None)
    assert world.site().status is SiteStatus.ACTIVE


# --- showing it --------------------------------------------------------------------------------


def test_the_view_has_status_period_next_attempt_and_payments_newest_first(world: SubscriptionsWorld) -> None:
    with pytest.raises(NotFound, match="no subscription"):
        world.subscriptions.get(world.owner_id(), "casa-rosa")
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    view = world.subscriptions.get(world.owner_id(), "casa-rosa")
    assert (view.status, view.subscription.checkout_url, view.payments) == (
        SubscriptionState.PENDING,
        started.checkout_url,
        (),
    )
    su, events = world.provider.pay_checkout(started.checkout_id)
    world.deliver(events[0])
    [renewal] = world.provider.renew(su)
    world.deliver(renewal)
    view = world.subscriptions.get(world.owner_id(), "casa-rosa")
    assert view.status is SubscriptionState.ACTIVE
    assert view.current_period_end == view.next_payment_attempt_at == world.clock.now() + PERIOD
    assert [p.payment_id for p in view.payments] == [renewal["id"], events[0]["id"]]
    assert view.ends_at is None
    assert world.subscriptions.view("casa-rosa") == view
    assert world.subscriptions.find(su).id == started.subscription_id
    assert world.subscriptions.find(str(started.subscription_id)).provider_id == su
    with pytest.raises(NotFound):
        world.subscriptions.find("su_nope")


def test_sync_reapplies_the_provider_state(world: SubscriptionsWorld) -> None:
    _, su = world.subscribe()
    world.provider.pause(su)  # the event is lost
    item = world.subscriptions.sync(su)
    assert (item.result.value, item.status) == ("applied", SubscriptionState.PAUSED)
    assert world.site().status is SiteStatus.SUSPENDED
