"""A subscription: the $95/month hosting of one owned site, as WebMagic last saw it.

The provider (Recurrente) is the source of truth. WebMagic creates a ``pending``
subscription with the recurring checkout; once the checkout is paid the provider's
``su_...`` subscription exists, and from then on the local record mirrors what
``GET /subscriptions/{id}`` last answered (``observe``): its status is the provider's.

States (``SubscriptionState``)::

    pending --checkout paid--> active | past_due | paused | cancelled   (the provider's)
    pending --hold over, replaced, checkout not created--> expired
    expired --paid after all--> the provider's status                (the money is honoured)
    active <-> past_due <-> paused <-> cancelled ...                   (as the provider says)

Paid time. ``paid_through`` is the end of the latest period known to be paid: a period the
provider reported while the subscription was ``active``, or the period a recorded payment
paid for. A ``cancelled`` subscription keeps its site online until then (``covers``);
nothing unpaid is ever counted as paid, so a period that the provider opened for a renewal
that then failed gives no free time.

``ended_at`` is when the subscription stopped keeping its site online (cancelled, or
unable to start after it had started, with no paid time left), as WebMagic saw it.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import attrs

from webmagic_core.errors import InvalidTransition
from webmagic_core.money import Money
from webmagic_core.payments.gateway import SubscriptionInfo

DEFAULT_CHECKOUT_HOLD = dt.timedelta(minutes=30)
# A payment pays for the provider's current period if that period began no later than
# this after the payment (providers stamp the period and the charge a moment apart).
PERIOD_SLACK = dt.timedelta(days=1)


class SubscriptionState(enum.StrEnum):
    """The local status: ``pending``/``expired`` before the provider has a subscription,
    then exactly the provider's ``SubscriptionStatus`` values."""

    PENDING = "pending"  # checkout created (or being created), not paid yet
    EXPIRED = "expired"  # the checkout was never paid (hold over, replaced, not created)
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    UNABLE_TO_START = "unable_to_start"


S = SubscriptionState
# The provider charges (or will charge again) for these: a site has at most one.
LIVE = frozenset({S.ACTIVE, S.PAST_DUE, S.PAUSED})
# Seen at the provider as having started (paid at least once).
STARTED = frozenset({S.ACTIVE, S.PAST_DUE, S.PAUSED, S.CANCELLED})


@attrs.define
class Subscription:
    id: uuid.UUID
    site_id: uuid.UUID
    customer_id: uuid.UUID
    amount: Money  # the monthly price the checkout was created with
    status: SubscriptionState
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime  # while pending: when its checkout stops holding the site's place
    checkout_id: str | None = None  # ch_...; unique
    checkout_url: str | None = None
    provider_id: str | None = None  # su_...; unique, known once the checkout is paid
    current_period_start: dt.datetime | None = None
    current_period_end: dt.datetime | None = None
    next_payment_attempt_at: dt.datetime | None = None
    paid_through: dt.datetime | None = None
    # Cancelled while paid time was left: the site stays online until ``paid_through``.
    cancel_at_period_end: bool = False
    started_at: dt.datetime | None = None  # first seen started at the provider
    cancelled_at: dt.datetime | None = None  # first seen cancelled
    ended_at: dt.datetime | None = None
    last_synced_at: dt.datetime | None = None  # when the provider's state was last applied

    @classmethod
    def new(
        cls,
        *,
        site_id: uuid.UUID,
        customer_id: uuid.UUID,
        amount: Money,
        now: dt.datetime,
        hold: dt.timedelta = DEFAULT_CHECKOUT_HOLD,
    ) -> Subscription:
        return cls(
            id=uuid.uuid4(),
            site_id=site_id,
            customer_id=customer_id,
            amount=amount,
            status=SubscriptionState.PENDING,
            created_at=now,
            updated_at=now,
            expires_at=now + hold,
        )

    # --- questions ------------------------------------------------------------------------

    @property
    def is_live(self) -> bool:
        return self.status in LIVE

    @property
    def is_started(self) -> bool:
        return self.started_at is not None

    def holds_checkout(self, now: dt.datetime) -> bool:
        """Pending and within its hold: starting again returns this checkout."""
        return self.status is SubscriptionState.PENDING and now < self.expires_at

    def is_stale(self, now: dt.datetime) -> bool:
        """Pending past its hold: to be marked expired."""
        return self.status is SubscriptionState.PENDING and now >= self.expires_at

    def covers(self, now: dt.datetime) -> bool:
        """Whether paid time is left at ``now``."""
        return self.paid_through is not None and self.paid_through > now

    # --- changes ----------------------------------------------------------------------------

    def attach_checkout(self, checkout_id: str, checkout_url: str, now: dt.datetime) -> None:
        if self.checkout_id is not None and self.checkout_id != checkout_id:
            raise InvalidTransition(f"subscription {self.id} already has checkout {self.checkout_id}")
        self.checkout_id, self.checkout_url, self.updated_at = checkout_id, checkout_url, now

    def mark_expired(self, now: dt.datetime) -> None:
        if self.status is not SubscriptionState.PENDING:
            raise InvalidTransition(
                f"subscription {self.id} is {self.status.value}; only a pending one expires"
            )
        self.status, self.updated_at = SubscriptionState.EXPIRED, now

    def observe(self, info: SubscriptionInfo, observed_at: dt.datetime) -> Observation:
        """Take the provider's state as read at ``observed_at``. A reading older than the
        last one applied is ignored (``stale``), so an old answer never undoes a newer one.
        Raises ``InvalidTransition`` when ``info`` is another provider subscription."""
        before = self.status
        if self.provider_id is not None and self.provider_id != info.id:
            raise InvalidTransition(
                f"subscription {self.id} is provider subscription {self.provider_id}, not {info.id}"
            )
        if self.last_synced_at is not None and observed_at < self.last_synced_at:
            return Observation(before, before, started=False, stale=True)
        self.provider_id = info.id
        self.status = SubscriptionState(info.status.value)
        self.current_period_start = info.current_period_start
        self.current_period_end = info.current_period_end
        self.next_payment_attempt_at = info.next_payment_attempt_at
        started = self.started_at is None and self.status in STARTED
        if started:
            self.started_at = observed_at
        if self.status is SubscriptionState.CANCELLED:
            if before is not SubscriptionState.CANCELLED:
                self.cancelled_at = observed_at
        else:
            # Reactivated (or never cancelled): nothing is scheduled to end.
            self.cancelled_at, self.cancel_at_period_end = None, False
            if self.status in LIVE:
                self.ended_at = None
        self.last_synced_at = self.updated_at = observed_at
        if self.status is SubscriptionState.ACTIVE:
            self.credit(info.current_period_end, observed_at)
        else:
            self.credit(None, observed_at)
        return Observation(before, self.status, started=started, stale=False)

    def credit(self, period_end: dt.datetime | None, now: dt.datetime) -> None:
        """Count the time until ``period_end`` (if given) as paid, then settle what paid
        time decides: a cancelled subscription with time left runs to the end of it
        (``cancel_at_period_end``); without, it has ended (``close_if_over``)."""
        if period_end is not None and (self.paid_through is None or period_end > self.paid_through):
            self.paid_through = period_end
            self.updated_at = max(self.updated_at, now)
        if self.status is SubscriptionState.CANCELLED and self.covers(now):
            # A payment learnt late can give back time to one already seen ended.
            self.cancel_at_period_end, self.ended_at = True, None
        elif self.status is SubscriptionState.UNABLE_TO_START and self.covers(now):
            # Likewise; left ended, it would never end again once that time is over.
            self.ended_at = None
        self.close_if_over(now)

    def period_paid_by(self, paid_at: dt.datetime) -> dt.datetime | None:
        """The end of the period a payment made at ``paid_at`` paid for, if it is the
        provider's current period as last observed (else unknown: None)."""
        start, end = self.current_period_start, self.current_period_end
        if end is None or end <= paid_at:
            return None
        if start is not None and start > paid_at + PERIOD_SLACK:
            return None  # a later period: this payment was for an earlier one
        return end

    def close_if_over(self, now: dt.datetime) -> bool:
        """Mark it ended if it is closed at the provider and no paid time is left;
        True when this call ended it."""
        if (
            self.ended_at is None
            and self.started_at is not None
            and self.status in (SubscriptionState.CANCELLED, SubscriptionState.UNABLE_TO_START)
            and not self.covers(now)
        ):
            self.ended_at = self.updated_at = now
            return True
        return False


@attrs.frozen
class Observation:
    """What ``Subscription.observe`` changed."""

    before: SubscriptionState
    after: SubscriptionState
    started: bool  # first seen started by this observation
    stale: bool  # older than the last applied reading: nothing was changed

    @property
    def changed(self) -> bool:
        return self.before is not self.after


@attrs.frozen
class SubscriptionPayment:
    """One payment of a subscription (``pa_...``, unique), for its history and receipts."""

    payment_id: str
    subscription_id: uuid.UUID
    amount: Money
    paid_at: dt.datetime
    period_end: dt.datetime | None  # the end of the period it paid for, when known
    recorded_at: dt.datetime

    @property
    def order_key(self) -> tuple[dt.datetime, str]:
        """Payments in the order they were made (the earliest is the first payment)."""
        return self.paid_at, self.payment_id


class NoticeKind(enum.StrEnum):
    HOSTING_ENDING_7_DAYS = "hosting_ending_7d"
    HOSTING_ENDING_1_DAY = "hosting_ending_1d"


@attrs.frozen
class Notice:
    """A reminder that was sent, under a unique ``key``, so it is never sent twice
    (the sweep runs again and again, possibly in several processes)."""

    key: str
    kind: NoticeKind
    site_id: uuid.UUID
    sent_at: dt.datetime

    @classmethod
    def hosting_ending(
        cls, kind: NoticeKind, site_id: uuid.UUID, ends_at: dt.datetime, now: dt.datetime
    ) -> Notice:
        return cls(
            key=f"{kind.value}:{site_id}:{ends_at.date().isoformat()}",
            kind=kind,
            site_id=site_id,
            sent_at=now,
        )
