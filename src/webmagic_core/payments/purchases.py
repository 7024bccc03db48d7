"""A purchase: one buyer's attempt to buy one preview site through one hosted checkout.

States::

    pending --paid--> paid
    pending --failed / expired / cancelled--> failed | expired | cancelled
    failed | expired | cancelled --paid--> paid           (the money was taken after all)
    any unpaid state --paid, but the site cannot be handed over--> refund_due

``refund_due`` is a payment we took but cannot honour (the site was sold to another
buyer, the amount did not match, the site was archived): an anomaly says why, and an
operator refunds it. ``paid`` and ``refund_due`` are final, so a replayed or duplicate
payment event finds nothing left to do (idempotency by state).

Only a ``pending`` purchase that has not passed ``expires_at`` holds its site: while it
does, nobody else may start buying the site. A declined card leaves it pending: the same
hosted checkout can still be paid with another card until it expires.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import attrs

from webmagic_core.errors import InvalidTransition
from webmagic_core.money import Money

# The provider's checkout is created to expire exactly when the hold does.
DEFAULT_HOLD = dt.timedelta(minutes=15)
MAX_REASON_LENGTH = 500


class PurchaseStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUND_DUE = "refund_due"


S = PurchaseStatus
UNPAID = frozenset({S.PENDING, S.FAILED, S.EXPIRED, S.CANCELLED})
FINAL = frozenset({S.PAID, S.REFUND_DUE})


def _reason(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_LENGTH else text[: MAX_REASON_LENGTH - 1] + "…"


@attrs.define
class Purchase:
    id: uuid.UUID
    site_id: uuid.UUID
    status: PurchaseStatus
    amount: Money  # expected: what the checkout was created for
    buyer_email: str  # normalised
    buyer_name: str | None
    buyer_phone: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    customer_id: uuid.UUID | None = None  # a signed-in buyer's account, or the account paid for
    checkout_id: str | None = None  # ch_...; unique
    checkout_url: str | None = None
    checkout_created_at: dt.datetime | None = None
    paid_at: dt.datetime | None = None
    payment_id: str | None = None  # pa_...
    # When it stopped being pending without a sale (failed, expired, cancelled, refund_due).
    closed_at: dt.datetime | None = None
    failure_reason: str | None = None
    # A hash of the client address the purchase was started from (never the address).
    client_key: str | None = None

    @classmethod
    def new(
        cls,
        *,
        site_id: uuid.UUID,
        amount: Money,
        buyer_email: str,
        now: dt.datetime,
        buyer_name: str | None = None,
        buyer_phone: str | None = None,
        customer_id: uuid.UUID | None = None,
        hold: dt.timedelta = DEFAULT_HOLD,
        client_key: str | None = None,
    ) -> Purchase:
        return cls(
            id=uuid.uuid4(),
            site_id=site_id,
            status=PurchaseStatus.PENDING,
            amount=amount,
            buyer_email=buyer_email,
            buyer_name=buyer_name,
            buyer_phone=buyer_phone,
            created_at=now,
            expires_at=now + hold,
            customer_id=customer_id,
            client_key=client_key,
        )

    def holds_site(self, now: dt.datetime) -> bool:
        """Whether this purchase keeps other buyers away from its site right now."""
        return self.status is PurchaseStatus.PENDING and now < self.expires_at

    def is_stale(self, now: dt.datetime) -> bool:
        """Pending, but past ``expires_at``: to be marked expired."""
        return self.status is PurchaseStatus.PENDING and now >= self.expires_at

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def attach_checkout(self, checkout_id: str, checkout_url: str, now: dt.datetime) -> None:
        if self.checkout_id is not None and self.checkout_id != checkout_id:
            raise InvalidTransition(f"purchase {self.id} already has checkout {self.checkout_id}")
        self.checkout_id, self.checkout_url, self.checkout_created_at = checkout_id, checkout_url, now

    def mark_paid(self, now: dt.datetime, *, payment_id: str | None, customer_id: uuid.UUID) -> None:
        self._leave(UNPAID, PurchaseStatus.PAID)
        self.paid_at, self.customer_id, self.closed_at = now, customer_id, None
        self.payment_id = payment_id or self.payment_id
        self.failure_reason = None

    def mark_refund_due(self, now: dt.datetime, *, payment_id: str | None, reason: str) -> None:
        self._leave(UNPAID, PurchaseStatus.REFUND_DUE)
        self.paid_at, self.closed_at, self.failure_reason = now, now, _reason(reason)
        self.payment_id = payment_id or self.payment_id

    def note_decline(self, reason: str) -> None:
        """A card was declined at the checkout: it stays payable (and the site held)."""
        if self.status is PurchaseStatus.PENDING:
            self.failure_reason = _reason(reason)

    def mark_failed(self, now: dt.datetime, reason: str) -> None:
        self._leave({PurchaseStatus.PENDING, PurchaseStatus.EXPIRED}, PurchaseStatus.FAILED)
        self.closed_at, self.failure_reason = now, _reason(reason)

    def mark_expired(self, now: dt.datetime) -> None:
        self._leave({PurchaseStatus.PENDING}, PurchaseStatus.EXPIRED)
        self.closed_at = now

    def mark_cancelled(self, now: dt.datetime, reason: str = "cancelled") -> None:
        self._leave({PurchaseStatus.PENDING, PurchaseStatus.EXPIRED}, PurchaseStatus.CANCELLED)
        self.closed_at, self.failure_reason = now, _reason(reason)

    def _leave(
        self, allowed: frozenset[PurchaseStatus] | set[PurchaseStatus], target: PurchaseStatus
    ) -> None:
        if self.status not in allowed:
            raise InvalidTransition(
                f"purchase {self.id} is {self.status.value}; it cannot become {target.value}"
            )
        self.status = target
