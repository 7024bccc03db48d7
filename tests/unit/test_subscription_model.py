"""The `Subscription` aggregate on its own: every boundary of its questions and every field each
change sets or leaves alone. Fast (no world, no fakes), so it is the mutation session's first
selection for `webmagic_core.payments.subscriptions`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import pytest

from webmagic_core.errors import InvalidTransition
from webmagic_core.money import Money
from webmagic_core.payments.gateway import SubscriptionInfo, SubscriptionStatus
from webmagic_core.payments.subscriptions import (
    DEFAULT_CHECKOUT_HOLD,
    PERIOD_SLACK,
    Observation,
    Subscription,
    SubscriptionState,
)

S = SubscriptionState
NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
PERIOD = dt.timedelta(days=30)
TICK = dt.timedelta(microseconds=1)
MONTHLY = Money(9500, "USD")


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


def pending(now: dt.datetime = NOW) -> Subscription:
    return Subscription.new(site_id=uuid.uuid4(), customer_id=uuid.uuid4(), amount=MONTHLY, now=now)


def reading(status: SubscriptionStatus, start: dt.datetime = NOW, **changes: Any) -> SubscriptionInfo:
    base = SubscriptionInfo(
        id="su_1",
        status=status,
        current_period_start=start,
        current_period_end=start + PERIOD,
        next_payment_attempt_at=start + PERIOD + days(1),
        checkout_id="ch_1",
    )
    return attrs.evolve(base, **changes)


def active(now: dt.datetime = NOW) -> Subscription:
    sub = pending(now)
    sub.observe(reading(SubscriptionStatus.ACTIVE, now), now)
    return sub


# --- questions --------------------------------------------------------------------------------


def test_a_new_subscription_is_pending_with_its_hold_and_nothing_else() -> None:
    sub = pending()
    assert (sub.status, sub.created_at, sub.updated_at) == (S.PENDING, NOW, NOW)
    assert sub.expires_at == NOW + DEFAULT_CHECKOUT_HOLD == NOW + dt.timedelta(minutes=30)
    assert (sub.checkout_id, sub.provider_id, sub.paid_through, sub.started_at, sub.ended_at) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert not sub.cancel_at_period_end
    assert not sub.is_started


def test_the_hold_ends_exactly_at_expires_at() -> None:
    sub = pending()
    end = sub.expires_at
    assert sub.holds_checkout(end - TICK)
    assert not sub.is_stale(end - TICK)
    assert not sub.holds_checkout(end)
    assert sub.is_stale(end)
    assert sub.is_stale(end + days(1))


@pytest.mark.parametrize("status", [s for s in S if s is not S.PENDING])
def test_only_a_pending_subscription_holds_or_goes_stale(status: SubscriptionState) -> None:
    sub = pending()
    sub.status = status
    assert not sub.holds_checkout(NOW)
    assert not sub.is_stale(sub.expires_at + days(1))


@pytest.mark.parametrize("status", list(S))
def test_live_means_the_provider_charges_for_it(status: SubscriptionState) -> None:
    sub = pending()
    sub.status = status
    assert sub.is_live is (status in {S.ACTIVE, S.PAST_DUE, S.PAUSED})


def test_started_is_having_been_seen_started() -> None:
    sub = pending()
    assert not sub.is_started
    sub.started_at = NOW
    assert sub.is_started


def test_paid_time_covers_up_to_but_not_including_its_end() -> None:
    sub = pending()
    assert not sub.covers(NOW)
    sub.paid_through = NOW + PERIOD
    assert sub.covers(NOW)
    assert sub.covers(NOW + PERIOD - TICK)
    assert not sub.covers(NOW + PERIOD)


# --- checkout and expiry ------------------------------------------------------------------------


def test_attaching_a_checkout_records_it_and_the_same_one_again_is_fine() -> None:
    sub = pending()
    sub.attach_checkout("ch_1", "https://pay.example/ch_1", NOW + days(1))
    assert (sub.checkout_id, sub.checkout_url, sub.updated_at) == (
        "ch_1",
        "https://pay.example/ch_1",
        NOW + days(1),
    )
    sub.attach_checkout("ch_1", "https://pay.example/ch_1b", NOW + days(2))
    assert (sub.checkout_id, sub.checkout_url, sub.updated_at) == (
        "ch_1",
        "https://pay.example/ch_1b",
        NOW + days(2),
    )


def test_another_checkout_is_refused_and_changes_nothing() -> None:
    sub = pending()
    sub.attach_checkout("ch_1", "https://pay.example/ch_1", NOW)
    with pytest.raises(InvalidTransition, match="already has checkout ch_1"):
        sub.attach_checkout("ch_2", "https://pay.example/ch_2", NOW + days(1))
    assert (sub.checkout_id, sub.checkout_url, sub.updated_at) == ("ch_1", "https://pay.example/ch_1", NOW)


def test_only_a_pending_subscription_expires() -> None:
    sub = pending()
    sub.mark_expired(NOW + days(1))
    assert (sub.status, sub.updated_at) == (S.EXPIRED, NOW + days(1))
    started = active()
    with pytest.raises(InvalidTransition, match="only a pending one expires"):
        started.mark_expired(NOW + days(2))
    assert (started.status, started.updated_at) == (S.ACTIVE, NOW)


# --- observing the provider ---------------------------------------------------------------------


def test_an_observation_copies_the_providers_state_and_stamps_the_sync() -> None:
    sub = pending()
    seen_at = NOW + days(1)
    info = reading(SubscriptionStatus.PAST_DUE, NOW)
    seen = sub.observe(info, seen_at)
    assert seen == Observation(S.PENDING, S.PAST_DUE, started=True, stale=False)
    assert seen.changed
    assert (sub.provider_id, sub.status) == ("su_1", S.PAST_DUE)
    assert (sub.current_period_start, sub.current_period_end, sub.next_payment_attempt_at) == (
        info.current_period_start,
        info.current_period_end,
        info.next_payment_attempt_at,
    )
    assert (sub.started_at, sub.last_synced_at, sub.updated_at) == (seen_at, seen_at, seen_at)
    assert sub.paid_through is None  # past due: the period is not paid


def test_the_same_provider_subscription_may_be_observed_again() -> None:
    sub = active()
    later = NOW + days(2)
    seen = sub.observe(reading(SubscriptionStatus.ACTIVE, NOW), later)
    assert seen == Observation(S.ACTIVE, S.ACTIVE, started=False, stale=False)
    assert not seen.changed
    assert (sub.started_at, sub.last_synced_at) == (NOW, later)


def test_another_provider_subscription_is_refused_and_changes_nothing() -> None:
    sub = active()
    with pytest.raises(InvalidTransition, match="is provider subscription su_1, not su_2"):
        sub.observe(reading(SubscriptionStatus.CANCELLED, NOW, id="su_2"), NOW + days(1))
    assert (sub.provider_id, sub.status, sub.last_synced_at) == ("su_1", S.ACTIVE, NOW)


def test_a_reading_older_than_the_last_is_ignored_but_one_of_the_same_instant_applies() -> None:
    sub = active()
    before = attrs.evolve(sub)
    seen = sub.observe(reading(SubscriptionStatus.CANCELLED, NOW + days(5)), NOW - TICK)
    assert seen == Observation(S.ACTIVE, S.ACTIVE, started=False, stale=True)
    assert sub == before
    seen = sub.observe(reading(SubscriptionStatus.PAST_DUE, NOW), NOW)
    assert not seen.stale
    assert sub.status is S.PAST_DUE


def test_a_subscription_unable_to_start_was_never_started() -> None:
    sub = pending()
    seen = sub.observe(reading(SubscriptionStatus.UNABLE_TO_START, NOW), NOW)
    assert not seen.started
    assert sub.started_at is None
    assert sub.ended_at is None  # it never kept anything online


def test_started_at_is_the_first_sighting_only() -> None:
    sub = active()
    seen = sub.observe(reading(SubscriptionStatus.PAUSED, NOW), NOW + days(3))
    assert not seen.started
    assert sub.started_at == NOW


def test_cancelled_at_is_the_first_sighting_of_the_cancellation() -> None:
    sub = active()
    sub.observe(reading(SubscriptionStatus.CANCELLED, NOW), NOW + days(3))
    assert sub.cancelled_at == NOW + days(3)
    assert sub.cancel_at_period_end
    sub.observe(reading(SubscriptionStatus.CANCELLED, NOW), NOW + days(4))
    assert sub.cancelled_at == NOW + days(3)


def test_a_reactivation_clears_the_cancellation_and_the_end() -> None:
    sub = active()
    sub.observe(reading(SubscriptionStatus.CANCELLED, NOW), NOW + PERIOD + days(1))
    assert sub.ended_at == NOW + PERIOD + days(1)
    back = NOW + PERIOD + days(2)
    sub.observe(reading(SubscriptionStatus.ACTIVE, back), back)
    assert (sub.cancelled_at, sub.cancel_at_period_end, sub.ended_at) == (None, False, None)
    assert sub.paid_through == back + PERIOD


def test_an_ended_subscription_that_cannot_start_again_keeps_its_first_end() -> None:
    sub = active()
    first_end = NOW + PERIOD + days(1)
    sub.observe(reading(SubscriptionStatus.UNABLE_TO_START, NOW + PERIOD), first_end)
    assert sub.ended_at == first_end
    assert sub.cancelled_at is None
    sub.observe(reading(SubscriptionStatus.UNABLE_TO_START, NOW + PERIOD), first_end + days(1))
    assert sub.ended_at == first_end


def test_only_an_active_reading_counts_its_period_as_paid() -> None:
    sub = active()
    assert sub.paid_through == NOW + PERIOD
    for status in (SubscriptionStatus.PAST_DUE, SubscriptionStatus.PAUSED, SubscriptionStatus.CANCELLED):
        sub.observe(reading(status, NOW + PERIOD), NOW + PERIOD + days(1))
        assert sub.paid_through == NOW + PERIOD, status


# --- paid time ----------------------------------------------------------------------------------


def test_credit_extends_paid_time_and_never_shortens_it() -> None:
    sub = active()
    sub.updated_at = NOW + days(10)
    sub.credit(NOW + 2 * PERIOD, NOW + days(5))
    assert sub.paid_through == NOW + 2 * PERIOD
    assert sub.updated_at == NOW + days(10)  # an older "now" does not move it back
    sub.credit(NOW + 3 * PERIOD, NOW + days(20))
    assert (sub.paid_through, sub.updated_at) == (NOW + 3 * PERIOD, NOW + days(20))
    sub.credit(NOW + PERIOD, NOW + days(25))
    sub.credit(NOW + 3 * PERIOD, NOW + days(26))  # the same end again: no change at all
    sub.credit(None, NOW + days(27))
    assert (sub.paid_through, sub.updated_at) == (NOW + 3 * PERIOD, NOW + days(20))


def test_a_payment_learnt_late_gives_an_ended_cancellation_its_time_back() -> None:
    sub = active()
    sub.observe(reading(SubscriptionStatus.CANCELLED, NOW), NOW + PERIOD + days(1))
    assert sub.ended_at is not None
    assert not sub.cancel_at_period_end
    sub.credit(NOW + 2 * PERIOD, NOW + PERIOD + days(2))
    assert (sub.cancel_at_period_end, sub.ended_at) == (True, None)


def test_a_payment_learnt_late_reopens_one_unable_to_start_without_a_scheduled_end() -> None:
    sub = active()
    sub.observe(reading(SubscriptionStatus.UNABLE_TO_START, NOW + PERIOD), NOW + PERIOD + days(1))
    assert sub.ended_at is not None
    sub.credit(NOW + 2 * PERIOD, NOW + PERIOD + days(2))
    assert (sub.ended_at, sub.cancel_at_period_end) == (None, False)
    sub.credit(None, NOW + 2 * PERIOD)
    assert sub.ended_at == NOW + 2 * PERIOD


def test_credit_schedules_no_end_for_a_live_subscription() -> None:
    sub = active()
    sub.credit(NOW + 2 * PERIOD, NOW + days(1))
    assert (sub.cancel_at_period_end, sub.ended_at) == (False, None)
    sub.credit(None, NOW + 3 * PERIOD)  # out of paid time, but still charged: not ended
    assert sub.ended_at is None


@pytest.mark.parametrize(
    ("paid_at", "expected"),
    [
        (NOW - PERIOD_SLACK - TICK, None),  # the period began more than a day after: a later one
        (NOW - PERIOD_SLACK, NOW + PERIOD),
        (NOW, NOW + PERIOD),
        (NOW + PERIOD - TICK, NOW + PERIOD),
        (NOW + PERIOD, None),  # the period is over: not this one
    ],
)
def test_a_payment_pays_the_observed_period_it_falls_in(
    paid_at: dt.datetime, expected: dt.datetime | None
) -> None:
    sub = active()
    assert sub.period_paid_by(paid_at) == expected


def test_without_an_observed_period_a_payment_pays_for_nothing_known() -> None:
    sub = pending()
    assert sub.period_paid_by(NOW) is None
    sub.current_period_end = NOW + PERIOD  # an end without a start: the end is all it takes
    assert sub.period_paid_by(NOW - days(40)) == NOW + PERIOD


# --- ending -------------------------------------------------------------------------------------


def test_close_if_over_ends_a_closed_subscription_once_its_time_is_over() -> None:
    sub = active()
    sub.status = S.CANCELLED
    assert not sub.close_if_over(NOW + PERIOD - TICK)
    assert sub.ended_at is None
    assert sub.close_if_over(NOW + PERIOD)
    assert (sub.ended_at, sub.updated_at) == (NOW + PERIOD, NOW + PERIOD)
    assert not sub.close_if_over(NOW + PERIOD + days(1))
    assert (sub.ended_at, sub.updated_at) == (NOW + PERIOD, NOW + PERIOD)


@pytest.mark.parametrize("status", [S.CANCELLED, S.UNABLE_TO_START])
def test_close_if_over_applies_to_both_closed_states(status: SubscriptionState) -> None:
    sub = active()
    sub.status = status
    assert sub.close_if_over(NOW + 2 * PERIOD)
    assert sub.ended_at == NOW + 2 * PERIOD


@pytest.mark.parametrize("status", [S.ACTIVE, S.PAST_DUE, S.PAUSED, S.PENDING, S.EXPIRED])
def test_close_if_over_leaves_other_states_alone(status: SubscriptionState) -> None:
    sub = active()
    sub.status = status
    assert not sub.close_if_over(NOW + 2 * PERIOD)
    assert sub.ended_at is None


def test_a_subscription_that_never_started_never_ends() -> None:
    sub = pending()
    sub.status = S.CANCELLED
    assert not sub.close_if_over(NOW + days(1))
    assert sub.ended_at is None
