"""The lifecycle sweep: included hosting (reminders 7 days and 1 day before, each once;
suspension at the end), paid time running out, subscriptions re-read when their webhooks
went missing, pending checkouts paid without a webhook; idempotent, and safe when another
sweep runs in between."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import ServeMode, SiteStatus
from webmagic_core.payments.subscriptions import NoticeKind, SubscriptionState
from webmagic_core.services.sweep import LifecycleSweep, SweepReport
from webmagic_core.testing.subscriptions import PERIOD, SubscriptionsWorld, subscriptions_world

T = EmailTemplate


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


@pytest.fixture
def world() -> SubscriptionsWorld:
    w = subscriptions_world()
    w.owned_site()
    return w


def at(world: SubscriptionsWorld, offset: dt.timedelta) -> SweepReport:
    """Sweep at ``purchased_at + offset``."""
    purchased_at = world.site().purchased_at
    assert purchased_at is not None
    world.clock.current = purchased_at + offset
    return world.sweep.run()


def mails(world: SubscriptionsWorld, template: EmailTemplate) -> list[Mapping[str, object]]:
    """The data of the queued mail of ``template`` (rendered by the relay when sent)."""
    return [m.data or {} for m in world.mails(template)]


# --- included hosting ---------------------------------------------------------------------------


def test_reminders_go_out_once_each_then_the_site_is_suspended(world: SubscriptionsWorld) -> None:
    purchased_at = world.site().purchased_at
    assert purchased_at is not None
    ends_on = (purchased_at + days(30)).date()
    assert at(world, days(22)) == SweepReport()
    assert at(world, days(23)).reminders_sent == 1
    assert at(world, days(23)).reminders_sent == 0
    assert at(world, days(28)) == SweepReport()
    assert at(world, days(29)).reminders_sent == 1
    assert at(world, days(29.9)) == SweepReport()
    reminders = mails(world, T.HOSTING_ENDING_SOON)
    assert len(reminders) == 2
    assert all(data["ends_on"] == ends_on for data in reminders)
    assert all(
        data["subscribe_url"] == "https://app.example.com/portal/sites/casa-rosa/subscription"
        for data in reminders
    )
    assert {n.kind for n in world.store.notices.values()} == set(NoticeKind)
    assert world.site().status is SiteStatus.OWNED

    report = at(world, days(30))
    assert (report.hosting_expired, report.sites_suspended) == (1, 1)
    assert world.site().status is SiteStatus.SUSPENDED
    assert world.payments.sites.resolve("casa-rosa").mode is ServeMode.UNAVAILABLE
    [suspended] = mails(world, T.SITE_SUSPENDED)
    assert suspended["reactivate_url"] == "https://app.example.com/portal/sites/casa-rosa/subscription"
    event = world.store.events[-1]
    assert (event.from_status, event.to_status, event.reference) == (
        SiteStatus.OWNED,
        SiteStatus.SUSPENDED,
        "sweep",
    )
    assert at(world, days(31)) == SweepReport()
    assert len(world.mails(T.SITE_SUSPENDED)) == 1


def test_a_sweep_that_first_runs_on_the_last_day_sends_only_the_last_reminder(
    world: SubscriptionsWorld,
) -> None:
    at(world, days(29.5))
    [notice] = world.store.notices.values()
    assert notice.kind is NoticeKind.HOSTING_ENDING_1_DAY
    at(world, days(29.6))
    assert len(world.mails(T.HOSTING_ENDING_SOON)) == 1


def test_a_subscription_started_in_time_stops_the_countdown(world: SubscriptionsWorld) -> None:
    at(world, days(24))
    world.subscribe()
    at(world, days(31))
    assert world.site().status is SiteStatus.ACTIVE
    assert len(world.mails(T.HOSTING_ENDING_SOON)) == 1


def test_paying_after_the_suspension_restores_the_site(world: SubscriptionsWorld) -> None:
    at(world, days(30))
    assert world.site().status is SiteStatus.SUSPENDED
    world.subscribe()
    assert world.site().status is SiteStatus.ACTIVE
    assert len(world.mails(T.SITE_RESTORED)) == 1


def test_without_included_hosting_days_owned_sites_are_left_alone() -> None:
    world = subscriptions_world(owned_hosting_days=0)
    world.owned_site()
    world.clock.advance(days(400))
    assert world.sweep.run() == SweepReport()
    assert world.site().status is SiteStatus.OWNED


def test_other_sites_are_untouched(world: SubscriptionsWorld) -> None:
    world.payments.preview("panaderia", "Panadería")
    world.owned_site("taller", "luis@example.com", "Taller")
    world.subscribe("taller")
    at(world, days(30))
    assert world.site("panaderia").status is SiteStatus.PREVIEW
    assert world.site("taller").status is SiteStatus.ACTIVE
    assert world.site().status is SiteStatus.SUSPENDED


def _interleave(monkeypatch: pytest.MonkeyPatch, world: SubscriptionsWorld, step: str) -> LifecycleSweep:
    """A sweep whose first call of ``step`` (handling one listed item) is preceded by a
    whole run of another sweep: a second process got in between this one's query and its
    handling of what the query found."""
    sweep, other = LifecycleSweep(world.subscriptions), LifecycleSweep(world.subscriptions)
    original = getattr(LifecycleSweep, step)
    ran: list[SweepReport] = []

    def patched(self: LifecycleSweep, *args: Any) -> object:
        if self is sweep and not ran:
            ran.append(other.run())
        return original(self, *args)

    monkeypatch.setattr(LifecycleSweep, step, patched)
    return sweep


def test_two_sweeps_at_once_suspend_a_site_once(
    world: SubscriptionsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    purchased_at = world.site().purchased_at
    assert purchased_at is not None
    world.clock.current = purchased_at + days(30)
    report = _interleave(monkeypatch, world, "_hosting_one").run()
    assert report.hosting_expired == 0
    assert world.site().status is SiteStatus.SUSPENDED
    assert len(world.mails(T.SITE_SUSPENDED)) == 1
    assert len([e for e in world.store.events if e.to_status is SiteStatus.SUSPENDED]) == 1


def test_two_sweeps_at_once_send_a_reminder_once(
    world: SubscriptionsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    purchased_at = world.site().purchased_at
    assert purchased_at is not None
    world.clock.current = purchased_at + days(24)
    assert _interleave(monkeypatch, world, "_hosting_one").run().reminders_sent == 0
    assert len(world.mails(T.HOSTING_ENDING_SOON)) == 1


# --- paid time over -------------------------------------------------------------------------------


def test_two_sweeps_at_once_end_a_subscription_once(
    world: SubscriptionsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub, _ = world.subscribe()
    world.subscriptions.cancel(world.owner_id(), "casa-rosa")
    world.clock.advance(PERIOD)
    report = _interleave(monkeypatch, world, "_end_one").run()
    assert report.subscriptions_ended == 0
    assert world.subscription(sub.id).ended_at is not None
    assert world.site().status is SiteStatus.SUSPENDED
    assert len(world.mails(T.SITE_SUSPENDED)) == 1


def test_the_paid_period_is_served_to_its_last_second(world: SubscriptionsWorld) -> None:
    world.subscribe()
    end = world.clock.now() + PERIOD
    world.subscriptions.cancel(world.owner_id(), "casa-rosa")
    world.clock.current = end - dt.timedelta(seconds=1)
    assert world.sweep.run().subscriptions_ended == 0
    assert world.site().status is SiteStatus.ACTIVE
    world.clock.current = end
    assert world.sweep.run().subscriptions_ended == 1
    assert world.site().status is SiteStatus.SUSPENDED


# --- missed webhooks and pending checkouts ---------------------------------------------------------


def test_a_cancel_after_retries_that_never_arrived_is_caught(world: SubscriptionsWorld) -> None:
    sub, su = world.subscribe()
    for payload in world.provider.fail_renewal(su):
        world.deliver(payload)
    world.clock.advance(days(8))
    world.provider.cancel(su)  # the webhook is lost
    report = world.sweep.run()
    assert (report.synced, report.sites_suspended) == (1, 1)
    assert world.subscription(sub.id).status is SubscriptionState.CANCELLED
    assert world.site().status is SiteStatus.SUSPENDED


def test_a_lost_renewal_is_found_by_the_daily_re_read_and_not_read_again_soon(
    world: SubscriptionsWorld,
) -> None:
    sub, su = world.subscribe()
    world.provider.renew(su)  # the webhook is lost; the clock is at the period end
    # Not read for a month: the daily re-read of every live subscription finds it at once.
    assert world.sweep.run().synced == 1
    assert world.subscription(sub.id).paid_through == world.subscription(sub.id).current_period_end
    reads = [c for c in world.gateway.calls if c == ("get_subscription", su)]
    world.clock.advance(dt.timedelta(hours=7))
    world.sweep.run()
    assert [c for c in world.gateway.calls if c == ("get_subscription", su)] == reads


def test_an_overdue_renewal_is_read_after_the_grace_even_if_read_today(world: SubscriptionsWorld) -> None:
    sub, su = world.subscribe()
    period_end = world.subscription(sub.id).current_period_end
    assert period_end is not None
    world.clock.advance(period_end - world.clock.now() - dt.timedelta(hours=1))
    world.sweep.run()  # the daily re-read: nothing new yet
    world.provider.renew(su)  # the webhook is lost
    world.clock.advance(dt.timedelta(hours=2))
    assert world.sweep.run().synced == 0  # within the grace, read an hour ago
    world.clock.advance(dt.timedelta(hours=6))
    assert world.sweep.run().synced == 1
    assert world.subscription(sub.id).paid_through == world.subscription(sub.id).current_period_end


def test_a_checkout_paid_without_a_webhook_starts_the_subscription(world: SubscriptionsWorld) -> None:
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    world.provider.pay_checkout(started.checkout_id)  # test keys: no webhooks at all
    report = world.sweep.run()
    assert report.synced == 1
    sub = world.subscription(started.subscription_id)
    assert sub.status is SubscriptionState.ACTIVE
    assert world.site().status is SiteStatus.ACTIVE
    assert len(world.store.subscription_payments) == 1
    assert len(world.mails(T.SUBSCRIPTION_STARTED)) == 1


def test_an_unpaid_checkout_expires_after_its_hold(world: SubscriptionsWorld) -> None:
    started = world.subscriptions.start(world.owner_id(), "casa-rosa")
    assert world.sweep.run().checkouts_expired == 0
    world.clock.advance(dt.timedelta(minutes=31))
    assert world.sweep.run().checkouts_expired == 1
    assert world.subscription(started.subscription_id).status is SubscriptionState.EXPIRED


def test_provider_failures_are_reported_and_the_rest_goes_on(world: SubscriptionsWorld) -> None:
    world.owned_site("taller", "luis@example.com", "Taller")
    subs = [world.subscribe(slug) for slug in ("casa-rosa", "taller")]
    for _, su in subs:
        for payload in world.provider.fail_renewal(su):
            world.deliver(payload)
        world.provider.cancel(su)
    world.clock.advance(days(1))
    world.gateway.fail_next(method="get_subscription")
    report = world.sweep.run()
    assert len(report.errors) == 1
    assert "fake gateway outage" in report.errors[0]
    assert report.synced == 1
    assert world.sweep.run().synced == 1  # the one that failed, next time
    assert {world.site(s).status for s in ("casa-rosa", "taller")} == {SiteStatus.SUSPENDED}
