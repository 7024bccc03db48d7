"""What the core asks of a payment provider, in provider-neutral terms.

The Recurrente adapter translates these to its HTTP API; the sandbox gateway imitates it
on the app itself. Money is integer cents; every time is timezone-aware.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from webmagic_core.errors import TransientError, WebMagicError
from webmagic_core.money import Money


class CheckoutKind(enum.StrEnum):
    ONE_TIME = "one_time"
    MONTHLY = "monthly"


class TrialInterval(enum.StrEnum):
    """The unit of a recurring item's free trial (the first charge falls when it ends)."""

    WEEK = "week"
    MONTH = "month"


@attrs.frozen
class FreeTrial:
    interval: TrialInterval
    count: int = attrs.field()

    @count.validator
    def _positive(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"a free trial lasts at least one {self.interval.value}, not {value}")


def add_months(value: dt.datetime, months: int) -> dt.datetime:
    """The same day ``months`` later (the last day of a shorter month)."""
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    for day in range(value.day, 0, -1):
        try:
            return value.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def trial_end(start: dt.datetime, trial: FreeTrial) -> dt.datetime:
    """When a free trial started at ``start`` ends: the first charge falls then."""
    if trial.interval is TrialInterval.WEEK:
        return start + dt.timedelta(weeks=trial.count)
    return add_months(start, trial.count)


def trial_within(start: dt.datetime, paid_until: dt.datetime) -> FreeTrial | None:
    """The free trial (whole months or whole weeks, whichever ends later) that ends no
    later than ``paid_until``; None when not even a week is left. Billing then starts at,
    never after, the end of the time already paid for."""
    months = 0
    while trial_end(start, FreeTrial(TrialInterval.MONTH, months + 1)) <= paid_until:
        months += 1
    weeks = (paid_until - start) // dt.timedelta(weeks=1) if paid_until > start else 0
    candidates = [
        FreeTrial(interval, count)
        for interval, count in ((TrialInterval.MONTH, months), (TrialInterval.WEEK, weeks))
        if count >= 1
    ]
    return max(candidates, key=lambda trial: trial_end(start, trial), default=None)


@attrs.frozen
class CheckoutRequest:
    kind: CheckoutKind
    item_name: str
    amount: Money
    success_url: str
    cancel_url: str
    # Recurrente: at most 50 keys, key <= 40 characters, value <= 500 characters.
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    expires_at: dt.datetime | None = None
    description: str | None = None
    # Monthly checkouts only: billing starts when the trial ends (time already paid for).
    free_trial: FreeTrial | None = None


@attrs.frozen
class Checkout:
    id: str
    url: str


class CheckoutStatus(enum.StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    IN_PROGRESS = "payment_in_progress"


@attrs.frozen
class CheckoutInfo:
    """A checkout as the provider sees it now (``GET /checkouts/{id}``)."""

    id: str
    status: CheckoutStatus
    amount: Money | None
    live_mode: bool
    metadata: Mapping[str, str]
    payment_id: str | None = None
    # The provider's subscription a paid monthly checkout started (None for a one-time sale).
    subscription_id: str | None = None
    expires_at: dt.datetime | None = None
    created_at: dt.datetime | None = None


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    PAST_DUE = "past_due"
    CANCELLED = "cancelled"
    UNABLE_TO_START = "unable_to_start"


@attrs.frozen
class SubscriptionInfo:
    """A subscription as the provider sees it now (``GET /subscriptions/{id}``)."""

    id: str
    status: SubscriptionStatus
    current_period_start: dt.datetime | None
    current_period_end: dt.datetime | None
    next_payment_attempt_at: dt.datetime | None
    checkout_id: str | None
    customer_email: str | None = None


class GatewayError(WebMagicError):
    """The provider refused the request (bad keys, validation): retrying will not help."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.status = status


class GatewayNotFound(GatewayError):
    """The provider does not know this checkout or subscription."""


class GatewayUnavailable(TransientError):
    """The provider could not be reached, timed out or failed (5xx): try again later."""


class PaymentGateway(Protocol):
    """Blocking calls with a timeout each; every failure is one of the errors above."""

    def create_checkout(self, request: CheckoutRequest) -> Checkout: ...

    def get_checkout(self, checkout_id: str) -> CheckoutInfo: ...

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo: ...

    def cancel_subscription(self, subscription_id: str) -> None: ...

    def refund(self, payment_id: str) -> None:
        """Full refund of a payment."""
        ...

    def expire_checkout(self, checkout_id: str, at: dt.datetime) -> None:
        """Close an unpaid checkout at ``at`` (now: nobody can pay it any more). A paid
        checkout cannot be closed: ``GatewayError``."""
        ...

    def list_checkouts(self, since: dt.datetime, *, limit: int = 500) -> Sequence[CheckoutInfo]:
        """Checkouts created since ``since``, newest first, at most ``limit`` (every page
        read): reconciliation looks there for payments it never heard of."""
        ...
