"""The subscription machine: which change the provider makes from which status, and which
webhooks it sends about it."""

from __future__ import annotations

import datetime as dt

import attrs

from webmagic_adapters.payments.provider_model.rules import (
    PAUSE_EVENTS,
    REACTIVATE,
    RETRY_AFTER,
    SUBSCRIPTION_CANCELLED,
    SUBSCRIPTION_PAST_DUE,
    SUBSCRIPTION_UNABLE_TO_START,
    UNPAUSE_EVENTS,
    Period,
    add_month,
)
from webmagic_core.errors import Conflict
from webmagic_core.payments.gateway import SubscriptionInfo, SubscriptionStatus

# --- the subscription machine ----------------------------------------------------------------
#
# Each change returns a ``Move``: the subscription after it, and the webhooks the provider
# sends about it (a payment first, then a ``subscription.*`` announcement). A change the
# provider would not make from the subscription's status is a ``Conflict``.
#
# Time: the provider renews (or fails to renew) when a period ends. A renewal or failure at
# or after the current period's end opens the next period where the last one ended; one
# made before it (a sandbox cannot wait a month) ends the current period now.

BILLED = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.PAUSED)


@attrs.frozen
class Move:
    subscription: SubscriptionInfo
    # The charge made: True paid, False declined, None no charge.
    charge: bool | None = None
    # The ``subscription.*`` event announcing the change, if any.
    announce: str | None = None


def _require(subscription: SubscriptionInfo, allowed: tuple[SubscriptionStatus, ...], why: str) -> None:
    if subscription.status not in allowed:
        raise Conflict(f"subscription {subscription.id} is {subscription.status.value}: {why}")


def _next_period(
    subscription: SubscriptionInfo,
    now: dt.datetime,
    period: Period,
    status: SubscriptionStatus,
    next_attempt: dt.datetime | None = None,
) -> SubscriptionInfo:
    """The next period opened at ``now``, from the end of the current one if it is over,
    else from now; charged again at its end unless ``next_attempt`` says otherwise."""
    end = subscription.current_period_end
    start = end if end is not None and end <= now else now
    return attrs.evolve(
        subscription,
        status=status,
        current_period_start=start,
        current_period_end=period(start),
        next_payment_attempt_at=next_attempt or period(start),
    )


def renew(subscription: SubscriptionInfo, now: dt.datetime, *, period: Period = add_month) -> Move:
    """The period ends and the renewal is charged: a new, paid period."""
    _require(
        subscription,
        (SubscriptionStatus.ACTIVE,),
        "only an active subscription renews (a past_due one recovers)",
    )
    return Move(_next_period(subscription, now, period, SubscriptionStatus.ACTIVE), charge=True)


def fail(subscription: SubscriptionInfo, now: dt.datetime, *, period: Period = add_month) -> Move:
    """The renewal charge fails. An active subscription's next period opens unpaid and it
    becomes past_due (announced); a past_due one's retry fails. The next try is 3 days later."""
    _require(subscription, BILLED, "only an active or past_due subscription is charged")
    retry_at = now + RETRY_AFTER
    if subscription.status is SubscriptionStatus.PAST_DUE:
        return Move(attrs.evolve(subscription, next_payment_attempt_at=retry_at), charge=False)
    failed = _next_period(subscription, now, period, SubscriptionStatus.PAST_DUE, retry_at)
    return Move(failed, charge=False, announce=SUBSCRIPTION_PAST_DUE)


def recover(subscription: SubscriptionInfo) -> Move:
    """A retry of a past_due subscription is paid: active again, for the period the failed
    renewal opened."""
    _require(subscription, (SubscriptionStatus.PAST_DUE,), "only a past_due subscription recovers")
    recovered = attrs.evolve(
        subscription,
        status=SubscriptionStatus.ACTIVE,
        next_payment_attempt_at=subscription.current_period_end,
    )
    return Move(recovered, charge=True)


def cancel(subscription: SubscriptionInfo, *, announce_api_cancel: bool = False) -> Move:
    """Cancelled at the provider (by the customer there, an operator, or after the retries
    ran out): no more charges. ``announce_api_cancel``: a subscription the app cancelled
    through the API (which sends nothing) gets the ``subscription.cancel`` the provider
    sends about it afterwards, instead of a ``Conflict``."""
    if not (announce_api_cancel and subscription.status is SubscriptionStatus.CANCELLED):
        _require(subscription, LIVE, "it has ended already")
    return Move(cancelled(subscription), announce=SUBSCRIPTION_CANCELLED)


def cancelled(subscription: SubscriptionInfo) -> SubscriptionInfo:
    """The API's cancel: idempotent, and it sends no webhook."""
    if subscription.status is SubscriptionStatus.CANCELLED:
        return subscription
    return attrs.evolve(subscription, status=SubscriptionStatus.CANCELLED, next_payment_attempt_at=None)


def pause(subscription: SubscriptionInfo, *, event_type: str = PAUSE_EVENTS[0]) -> Move:
    """Paused: no charges while paused."""
    if event_type not in PAUSE_EVENTS:
        raise ValueError(f"a pause is announced as one of {', '.join(PAUSE_EVENTS)}, not {event_type!r}")
    _require(subscription, BILLED, "only an active or past_due subscription can be paused")
    paused = attrs.evolve(subscription, status=SubscriptionStatus.PAUSED, next_payment_attempt_at=None)
    return Move(paused, announce=event_type)


def unpause(subscription: SubscriptionInfo, *, event_type: str = UNPAUSE_EVENTS[0]) -> Move:
    """Unpaused (or reactivated, which a cancelled subscription may be too): active again
    for the period the provider reports."""
    if event_type not in UNPAUSE_EVENTS:
        raise ValueError(f"an unpause is announced as one of {', '.join(UNPAUSE_EVENTS)}, not {event_type!r}")
    allowed: tuple[SubscriptionStatus, ...] = (SubscriptionStatus.PAUSED,)
    if event_type == REACTIVATE:
        allowed += (SubscriptionStatus.CANCELLED,)
    _require(subscription, allowed, "only a paused subscription can be unpaused")
    resumed = attrs.evolve(
        subscription,
        status=SubscriptionStatus.ACTIVE,
        next_payment_attempt_at=subscription.current_period_end,
    )
    return Move(resumed, announce=event_type)


def unable_to_start(subscription: SubscriptionInfo) -> Move:
    """The provider could not (re)start it (a resumed one whose charge is refused)."""
    _require(subscription, LIVE, "it has ended already")
    ended = attrs.evolve(
        subscription, status=SubscriptionStatus.UNABLE_TO_START, next_payment_attempt_at=None
    )
    return Move(ended, announce=SUBSCRIPTION_UNABLE_TO_START)
