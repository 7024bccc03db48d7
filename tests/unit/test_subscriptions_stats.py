"""Subscription statistics: counts per status, MRR (active + past_due), and churn over the
last 30 days as a cohort rate (of those running at the window's start, the share that
ended within it)."""

from __future__ import annotations

import datetime as dt
import uuid

from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import Subscription, SubscriptionState
from webmagic_core.services.stats import StatsService
from webmagic_core.testing.fakes import FakeStatsQuery, _Store
from webmagic_core.testing.subscriptions import MONTHLY, subscriptions_world

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
WINDOW_START = NOW - dt.timedelta(days=30)


def put(
    store: _Store,
    status: SubscriptionState,
    *,
    started: dt.datetime | None,
    ended: dt.datetime | None = None,
    amount: Money = MONTHLY,
) -> None:
    sub = Subscription.new(site_id=uuid.uuid4(), customer_id=uuid.uuid4(), amount=amount, now=NOW)
    sub.status, sub.started_at, sub.ended_at = status, started, ended
    store.subscriptions[sub.id] = sub


def test_no_subscriptions_means_zeros_and_no_churn() -> None:
    stats = StatsService(FakeStatsQuery(_Store())).subscriptions(NOW)
    assert stats.by_status == dict.fromkeys(SubscriptionState, 0)
    assert (stats.active, stats.past_due, stats.mrr, stats.churn) == (0, 0, (), None)
    assert (stats.since, stats.now) == (WINDOW_START, NOW)


def test_mrr_counts_what_is_still_billed_and_churn_is_a_cohort_rate() -> None:
    store = _Store()
    long_ago = NOW - dt.timedelta(days=90)
    # Running at the window's start:
    put(store, SubscriptionState.ACTIVE, started=long_ago)
    put(store, SubscriptionState.ACTIVE, started=long_ago)
    put(store, SubscriptionState.PAST_DUE, started=long_ago)
    put(store, SubscriptionState.PAUSED, started=long_ago)
    put(store, SubscriptionState.CANCELLED, started=long_ago)  # cancelled, paid time left
    put(store, SubscriptionState.CANCELLED, started=long_ago, ended=NOW - dt.timedelta(days=3))
    put(store, SubscriptionState.CANCELLED, started=long_ago, ended=NOW)  # the window includes now
    # Not in the cohort:
    put(store, SubscriptionState.CANCELLED, started=long_ago, ended=WINDOW_START)  # ended before
    put(
        store,
        SubscriptionState.CANCELLED,
        started=NOW - dt.timedelta(days=10),
        ended=NOW - dt.timedelta(days=2),
    )
    put(store, SubscriptionState.ACTIVE, started=NOW - dt.timedelta(days=1), amount=Money(70000, "GTQ"))
    put(store, SubscriptionState.PENDING, started=None)
    put(store, SubscriptionState.EXPIRED, started=None)

    stats = StatsService(FakeStatsQuery(store)).subscriptions(NOW)
    assert (stats.active, stats.past_due) == (3, 1)
    assert stats.by_status[SubscriptionState.CANCELLED] == 5
    assert stats.by_status[SubscriptionState.PENDING] == 1
    assert stats.mrr == (Money(70000, "GTQ"), Money(3 * MONTHLY.amount_in_cents, "USD"))
    assert (stats.subscribed_at_start, stats.ended_in_window) == (7, 2)
    assert stats.churn == 2 / 7


def test_a_shorter_window() -> None:
    store = _Store()
    put(
        store,
        SubscriptionState.CANCELLED,
        started=NOW - dt.timedelta(days=60),
        ended=NOW - dt.timedelta(days=10),
    )
    put(store, SubscriptionState.ACTIVE, started=NOW - dt.timedelta(days=60))
    stats = StatsService(FakeStatsQuery(store)).subscriptions(NOW, window=dt.timedelta(days=7))
    assert (stats.subscribed_at_start, stats.ended_in_window, stats.churn) == (1, 0, 0.0)


def test_the_figures_follow_a_real_lifecycle() -> None:
    world = subscriptions_world()
    world.owned_site()
    world.owned_site("taller", "luis@example.com", "Taller")
    _, rosa = world.subscribe()
    _, luis = world.subscribe("taller")
    world.clock.advance(dt.timedelta(days=40))
    for payload in world.provider.fail_renewal(rosa):
        world.deliver(payload)
    for payload in world.provider.cancel(luis):
        world.deliver(payload)
    stats = StatsService(FakeStatsQuery(world.store)).subscriptions(world.clock.now())
    assert (stats.active, stats.past_due) == (0, 1)
    assert stats.mrr == (MONTHLY,)
    assert (stats.subscribed_at_start, stats.ended_in_window, stats.churn) == (2, 1, 0.5)
