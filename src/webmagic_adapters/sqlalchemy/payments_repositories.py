"""PurchaseRepository, WebhookEventRepository and AnomalyRepository on SQLAlchemy Core.

Each table keeps insertion order in ``seq``: "oldest first" sorts by the entity's time,
then ``seq``; "newest first" by both descending, as the in-memory fakes do.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, exists, select

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.repositories import (
    AnyRow,
    Insertion,
    Lookup,
    SqlAlchemyRepository,
    entity_columns,
    updating,
)
from webmagic_core.money import Money
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome

_purchases = t.purchases
_events = t.webhook_events
_anomalies = t.anomalies
_PURCHASE_COLUMNS = entity_columns(_purchases)
_EVENT_COLUMNS = entity_columns(_events)
_ANOMALY_COLUMNS = entity_columns(_anomalies)

# The statements of the webhook path, built once (see ``repositories.Lookup``).
_PURCHASE_CHANGEABLE = (
    "status",
    "buyer_email",
    "buyer_name",
    "buyer_phone",
    "customer_id",
    "checkout_id",
    "checkout_url",
    "checkout_created_at",
    "expires_at",
    "paid_at",
    "payment_id",
    "closed_at",
    "failure_reason",
    "client_key",
)
_INSERT_PURCHASE = Insertion(_purchases)
_UPDATE_PURCHASE = updating(_purchases, _purchases.c.id, _PURCHASE_CHANGEABLE)
_PURCHASE_BY_ID = Lookup(select(*_PURCHASE_COLUMNS).where(_purchases.c.id == bindparam("id")))
_PURCHASE_BY_CHECKOUT = Lookup(select(*_PURCHASE_COLUMNS).where(_purchases.c.checkout_id == bindparam("id")))
# Every purchase of a site, oldest first (``for_site``; paying one reads them all).
_PURCHASES_OF_SITE = Lookup(
    select(*_PURCHASE_COLUMNS)
    .where(_purchases.c.site_id == bindparam("site_id"))
    .order_by(_purchases.c.created_at, _purchases.c.seq)
)
_PURCHASE_EXISTS = select(exists().where(_purchases.c.id == bindparam("id")))
_INSERT_EVENT = Insertion(_events)
_UPDATE_EVENT = updating(
    _events, _events.c.id, ("processed_at", "outcome", "error", "site_id", "purchase_id")
)
_EVENT_BY_ID = select(*_EVENT_COLUMNS).where(_events.c.id == bindparam("id"))
_INSERT_ANOMALY = Insertion(_anomalies)
_UPDATE_ANOMALY = updating(_anomalies, _anomalies.c.id, ("resolved_at", "resolution"))
_ANOMALY_BY_ID = select(*_ANOMALY_COLUMNS).where(_anomalies.c.id == bindparam("id"))
_ANOMALY_BY_KEY = select(*_ANOMALY_COLUMNS).where(_anomalies.c.key == bindparam("key"))
_ANOMALY_EXISTS = select(exists().where(_anomalies.c.id == bindparam("id")))


def _checkout_taken(checkout_id: str | None) -> str:
    return f"checkout {checkout_id} belongs to another purchase"


def _purchase(row: AnyRow) -> Purchase:
    return Purchase(
        id=row.id,
        site_id=row.site_id,
        status=PurchaseStatus(row.status),
        amount=Money(int(row.amount_in_cents), row.currency),
        buyer_email=row.buyer_email,
        buyer_name=row.buyer_name,
        buyer_phone=row.buyer_phone,
        created_at=row.created_at,
        expires_at=row.expires_at,
        customer_id=row.customer_id,
        checkout_id=row.checkout_id,
        checkout_url=row.checkout_url,
        checkout_created_at=row.checkout_created_at,
        paid_at=row.paid_at,
        payment_id=row.payment_id,
        closed_at=row.closed_at,
        failure_reason=row.failure_reason,
        client_key=row.client_key,
    )


def _event(row: AnyRow) -> WebhookEvent:
    return WebhookEvent(
        id=row.id,
        event_type=row.event_type,
        body=row.body,
        received_at=row.received_at,
        processed_at=row.processed_at,
        outcome=WebhookOutcome(row.outcome) if row.outcome is not None else None,
        error=row.error,
        site_id=row.site_id,
        purchase_id=row.purchase_id,
    )


def _anomaly(row: AnyRow) -> Anomaly:
    return Anomaly(
        id=row.id,
        kind=AnomalyKind(row.kind),
        key=row.key,
        summary=row.summary,
        details=row.details,
        created_at=row.created_at,
        site_id=row.site_id,
        purchase_id=row.purchase_id,
        webhook_event_id=row.webhook_event_id,
        resolved_at=row.resolved_at,
        resolution=row.resolution,
    )


class SqlAlchemyPurchaseRepository(SqlAlchemyRepository):
    def add(self, purchase: Purchase) -> None:
        self._insert_unique(
            _INSERT_PURCHASE,
            lambda: self._clash(purchase),
            {
                "id": purchase.id,
                "site_id": purchase.site_id,
                "amount_in_cents": purchase.amount.amount_in_cents,
                "currency": purchase.amount.currency,
                "created_at": purchase.created_at,
                **self._changeable(purchase),
            },
        )

    def save(self, purchase: Purchase) -> None:
        changed = self._write_unique(
            _UPDATE_PURCHASE,
            _checkout_taken(purchase.checkout_id),
            {"_key": purchase.id, **self._changeable(purchase)},
        )
        if changed == 0:
            raise LookupError(f"purchase {purchase.id} was never added")

    @staticmethod
    def _changeable(purchase: Purchase) -> dict[str, object]:
        return {
            "status": purchase.status.value,
            "buyer_email": purchase.buyer_email,
            "buyer_name": purchase.buyer_name,
            "buyer_phone": purchase.buyer_phone,
            "customer_id": purchase.customer_id,
            "checkout_id": purchase.checkout_id,
            "checkout_url": purchase.checkout_url,
            "checkout_created_at": purchase.checkout_created_at,
            "expires_at": purchase.expires_at,
            "paid_at": purchase.paid_at,
            "payment_id": purchase.payment_id,
            "closed_at": purchase.closed_at,
            "failure_reason": purchase.failure_reason,
            "client_key": purchase.client_key,
        }

    def _clash(self, purchase: Purchase) -> str:
        """Which unique rule an insert broke (asked after it failed, in the same transaction)."""
        if self._execute(_PURCHASE_EXISTS, {"id": purchase.id}).scalar():
            return f"purchase {purchase.id} exists"
        return _checkout_taken(purchase.checkout_id)

    def get(self, purchase_id: uuid.UUID, *, for_update: bool = False) -> Purchase | None:
        row = self._lookup(_PURCHASE_BY_ID, {"id": purchase_id}, for_update=for_update).first()
        return _purchase(row) if row is not None else None

    def get_by_checkout(self, checkout_id: str, *, for_update: bool = False) -> Purchase | None:
        row = self._lookup(_PURCHASE_BY_CHECKOUT, {"id": checkout_id}, for_update=for_update).first()
        return _purchase(row) if row is not None else None

    def for_site(self, site_id: uuid.UUID) -> Sequence[Purchase]:
        rows = self._lookup(_PURCHASES_OF_SITE, {"site_id": site_id}, for_update=False).all()
        return [_purchase(row) for row in rows]

    def list(self, *, status: PurchaseStatus | None = None, limit: int = 100) -> Sequence[Purchase]:
        where = () if status is None else (_purchases.c.status == status.value,)
        return [_purchase(row) for row in self._newest(_purchases, _purchases.c.created_at, limit, *where)]


class SqlAlchemyWebhookEventRepository(SqlAlchemyRepository):
    def add(self, event: WebhookEvent) -> None:
        # Inserted now, not at commit: on PostgreSQL a concurrent transaction inserting the
        # same id waits on the unique index until this one ends, then fails here (Conflict)
        # if it committed. On SQLite the write lock, taken first, serializes the two.
        self._insert_unique(
            _INSERT_EVENT,
            f"webhook event {event.id} exists",
            {
                "id": event.id,
                "event_type": event.event_type,
                "body": event.body,
                "received_at": event.received_at,
                **self._changeable(event),
            },
        )

    def save(self, event: WebhookEvent) -> None:
        result = self._write(_UPDATE_EVENT, {"_key": event.id, **self._changeable(event)})
        if result.rowcount == 0:
            raise LookupError(f"webhook event {event.id} was never added")

    @staticmethod
    def _changeable(event: WebhookEvent) -> dict[str, object]:
        return {
            "processed_at": event.processed_at,
            "outcome": event.outcome.value if event.outcome is not None else None,
            "error": event.error,
            "site_id": event.site_id,
            "purchase_id": event.purchase_id,
        }

    def get(self, event_id: str) -> WebhookEvent | None:
        row = self._execute(_EVENT_BY_ID, {"id": event_id}).first()
        return _event(row) if row is not None else None

    def list(self, *, outcome: WebhookOutcome | None = None, limit: int = 100) -> Sequence[WebhookEvent]:
        where = () if outcome is None else (_events.c.outcome == outcome.value,)
        return [_event(row) for row in self._newest(_events, _events.c.received_at, limit, *where)]

    def for_site(self, site_id: uuid.UUID) -> Sequence[WebhookEvent]:
        return [
            _event(row) for row in self._oldest(_events, _events.c.received_at, _events.c.site_id == site_id)
        ]


class SqlAlchemyAnomalyRepository(SqlAlchemyRepository):
    def add(self, anomaly: Anomaly) -> None:
        self._insert_unique(
            _INSERT_ANOMALY,
            lambda: self._clash(anomaly),
            {
                "id": anomaly.id,
                "kind": anomaly.kind.value,
                "key": anomaly.key,
                "summary": anomaly.summary,
                "details": anomaly.details,
                "created_at": anomaly.created_at,
                "site_id": anomaly.site_id,
                "purchase_id": anomaly.purchase_id,
                "webhook_event_id": anomaly.webhook_event_id,
                "resolved_at": anomaly.resolved_at,
                "resolution": anomaly.resolution,
            },
        )

    def _clash(self, anomaly: Anomaly) -> str:
        if self._execute(_ANOMALY_EXISTS, {"id": anomaly.id}).scalar():
            return f"anomaly {anomaly.id} exists"
        return f"an anomaly with the key {anomaly.key!r} exists"

    def save(self, anomaly: Anomaly) -> None:
        result = self._write(
            _UPDATE_ANOMALY,
            {"_key": anomaly.id, "resolved_at": anomaly.resolved_at, "resolution": anomaly.resolution},
        )
        if result.rowcount == 0:
            raise LookupError(f"anomaly {anomaly.id} was never added")

    def get(self, anomaly_id: uuid.UUID) -> Anomaly | None:
        row = self._execute(_ANOMALY_BY_ID, {"id": anomaly_id}).first()
        return _anomaly(row) if row is not None else None

    def get_by_key(self, key: str) -> Anomaly | None:
        row = self._execute(_ANOMALY_BY_KEY, {"key": key}).first()
        return _anomaly(row) if row is not None else None

    def list(self, *, open_only: bool = False, limit: int = 100) -> Sequence[Anomaly]:
        where = (_anomalies.c.resolved_at.is_(None),) if open_only else ()
        return [_anomaly(row) for row in self._newest(_anomalies, _anomalies.c.created_at, limit, *where)]

    def for_site(self, site_id: uuid.UUID) -> Sequence[Anomaly]:
        rows = self._oldest(_anomalies, _anomalies.c.created_at, _anomalies.c.site_id == site_id)
        return [_anomaly(row) for row in rows]
