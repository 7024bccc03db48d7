"""Anomalies: payments and deliveries that did not fit, kept until an operator resolves them.

Nothing that does not fit is dropped silently: each case becomes an anomaly (listed by
``webmagic payments anomalies``) and, when ``WEBMAGIC_ADMIN_EMAIL`` is set, a mail to the
operators. ``key`` names the problem, not its occurrence (``double_sale:<purchase id>``,
``unknown_checkout:<checkout id>``), so a replayed or re-delivered event never records
the same anomaly twice.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import attrs

from webmagic_core.errors import Conflict


class AnomalyKind(enum.StrEnum):
    AMOUNT_MISMATCH = "amount_mismatch"  # paid amount or currency differs from the purchase's
    DOUBLE_SALE = "double_sale"  # paid for a site already sold to another buyer
    SITE_UNAVAILABLE = "site_unavailable"  # paid for a site that can no longer be sold (archived)
    UNKNOWN_CHECKOUT = "unknown_checkout"  # a payment for a checkout no purchase knows
    MALFORMED_EVENT = "malformed_event"  # a signed delivery missing what its type needs
    PROCESSING_ERROR = "processing_error"  # an event that broke a rule while being applied
    UNKNOWN_SUBSCRIPTION = "unknown_subscription"  # a subscription event no local subscription matches
    DUPLICATE_SUBSCRIPTION = "duplicate_subscription"  # a second live subscription for one site
    DUPLICATE_PAYMENT = "duplicate_payment"  # a second, distinct payment of a paid purchase
    ARCHIVED_WHILE_PAID = "archived_while_paid"  # archived with paid hosting time left
    PAYMENT_FOR_ARCHIVED_SITE = "payment_for_archived_site"  # a renewal after archiving
    REFUND = "refund"  # money given back at the provider
    DISPUTE = "dispute"  # a chargeback opened or changed: the site is not paid for
    OUTBOX_DEAD = "outbox_dead"  # emails started dying (once a day)


@attrs.define
class Anomaly:
    id: uuid.UUID
    kind: AnomalyKind
    key: str  # unique: one anomaly per problem
    summary: str  # one line
    details: str  # several lines: what was expected, what came, what to do
    created_at: dt.datetime
    site_id: uuid.UUID | None = None
    purchase_id: uuid.UUID | None = None
    webhook_event_id: str | None = None
    resolved_at: dt.datetime | None = None
    resolution: str | None = None

    @classmethod
    def new(
        cls,
        kind: AnomalyKind,
        key: str,
        summary: str,
        details: str,
        now: dt.datetime,
        *,
        site_id: uuid.UUID | None = None,
        purchase_id: uuid.UUID | None = None,
        webhook_event_id: str | None = None,
    ) -> Anomaly:
        return cls(
            id=uuid.uuid4(),
            kind=kind,
            key=key,
            summary=" ".join(summary.split()),
            details=details,
            created_at=now,
            site_id=site_id,
            purchase_id=purchase_id,
            webhook_event_id=webhook_event_id,
        )

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def resolve(self, now: dt.datetime, resolution: str) -> None:
        if self.resolved_at is not None:
            raise Conflict(f"anomaly {self.id} was resolved on {self.resolved_at.isoformat()}")
        self.resolved_at, self.resolution = now, " ".join(resolution.split()) or "resolved"
