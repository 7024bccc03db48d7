"""SubscriptionRepository and NoticeRepository on SQLAlchemy Core.

As in ``payments_repositories``: ``seq`` keeps insertion order, so "oldest first" sorts by
the entity's time, then ``seq``, and "newest first" by both descending, as the fakes do.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, and_, bindparam, exists, or_, select

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
from webmagic_core.payments.subscriptions import (
    Notice,
    NoticeKind,
    Subscription,
    SubscriptionPayment,
    SubscriptionState,
)

_subs = t.subscriptions
_payments = t.subscription_payments
_notices = t.notices
_SUB_COLUMNS = entity_columns(_subs)
_PAYMENT_COLUMNS = entity_columns(_payments)
_NOTICE_COLUMNS = entity_columns(_notices)

# Everything but the id, site, customer, amount and created time (the port's ``save``).
_SUB_CHANGEABLE = (
    "status",
    "updated_at",
    "expires_at",
    "checkout_id",
    "checkout_url",
    "provider_id",
    "current_period_start",
    "current_period_end",
    "next_payment_attempt_at",
    "paid_through",
    "cancel_at_period_end",
    "started_at",
    "cancelled_at",
    "ended_at",
    "last_synced_at",
)

# The statements of the webhook path and the sweep, built once (see ``repositories.Lookup``).
_INSERT_SUB = Insertion(_subs)
_UPDATE_SUB = updating(_subs, _subs.c.id, _SUB_CHANGEABLE)
_SUB_BY_ID = Lookup(select(*_SUB_COLUMNS).where(_subs.c.id == bindparam("id")))
_SUB_BY_PROVIDER_ID = Lookup(select(*_SUB_COLUMNS).where(_subs.c.provider_id == bindparam("id")))
_SUB_BY_CHECKOUT = Lookup(select(*_SUB_COLUMNS).where(_subs.c.checkout_id == bindparam("id")))
_SUB_EXISTS = select(exists().where(_subs.c.id == bindparam("id")))
_CHECKOUT_TAKEN = select(
    exists().where(_subs.c.checkout_id == bindparam("id"), _subs.c.id != bindparam("own"))
)
_SUBS_OF_SITE = (
    select(*_SUB_COLUMNS)
    .where(_subs.c.site_id == bindparam("site_id"))
    .order_by(_subs.c.created_at, _subs.c.seq)
)
_ENDING = (
    select(*_SUB_COLUMNS)
    .where(
        or_(
            _subs.c.status == SubscriptionState.CANCELLED.value,
            and_(
                _subs.c.status == SubscriptionState.UNABLE_TO_START.value,
                _subs.c.started_at.is_not(None),
            ),
        ),
        _subs.c.ended_at.is_(None),
        or_(_subs.c.paid_through.is_(None), _subs.c.paid_through <= bindparam("now")),
    )
    .order_by(_subs.c.paid_through.asc().nulls_first(), _subs.c.created_at, _subs.c.seq)
    .limit(bindparam("limit", type_=Integer))
)
_DUE_FOR_SYNC = (
    select(*_SUB_COLUMNS)
    .where(
        _subs.c.provider_id.is_not(None),
        or_(
            _subs.c.status.in_([SubscriptionState.PAST_DUE.value, SubscriptionState.PAUSED.value]),
            and_(
                _subs.c.status == SubscriptionState.ACTIVE.value,
                or_(
                    _subs.c.current_period_end.is_(None),
                    _subs.c.current_period_end <= bindparam("period_ended_before"),
                ),
            ),
        ),
        or_(_subs.c.last_synced_at.is_(None), _subs.c.last_synced_at <= bindparam("synced_before")),
    )
    .order_by(_subs.c.last_synced_at.asc().nulls_first(), _subs.c.created_at, _subs.c.seq)
    .limit(bindparam("limit", type_=Integer))
)
_INSERT_PAYMENT = Insertion(_payments)
_PAYMENT_BY_ID = select(*_PAYMENT_COLUMNS).where(_payments.c.payment_id == bindparam("id"))
_PAYMENTS_OF = (
    select(*_PAYMENT_COLUMNS)
    .where(_payments.c.subscription_id == bindparam("id"))
    .order_by(_payments.c.paid_at, _payments.c.payment_id)
)
_INSERT_NOTICE = Insertion(_notices)
_NOTICE_BY_KEY = select(*_NOTICE_COLUMNS).where(_notices.c.key == bindparam("key"))
_NOTICES_OF_SITE = (
    select(*_NOTICE_COLUMNS)
    .where(_notices.c.site_id == bindparam("site_id"))
    .order_by(_notices.c.sent_at, _notices.c.seq)
)


def _subscription(row: AnyRow) -> Subscription:
    return Subscription(
        id=row.id,
        site_id=row.site_id,
        customer_id=row.customer_id,
        amount=Money(int(row.amount_in_cents), row.currency),
        status=SubscriptionState(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        checkout_id=row.checkout_id,
        checkout_url=row.checkout_url,
        provider_id=row.provider_id,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        next_payment_attempt_at=row.next_payment_attempt_at,
        paid_through=row.paid_through,
        cancel_at_period_end=bool(row.cancel_at_period_end),
        started_at=row.started_at,
        cancelled_at=row.cancelled_at,
        ended_at=row.ended_at,
        last_synced_at=row.last_synced_at,
    )


def _payment(row: AnyRow) -> SubscriptionPayment:
    return SubscriptionPayment(
        payment_id=row.payment_id,
        subscription_id=row.subscription_id,
        amount=Money(int(row.amount_in_cents), row.currency),
        paid_at=row.paid_at,
        period_end=row.period_end,
        recorded_at=row.recorded_at,
    )


def _notice(row: AnyRow) -> Notice:
    return Notice(key=row.key, kind=NoticeKind(row.kind), site_id=row.site_id, sent_at=row.sent_at)


class SqlAlchemySubscriptionRepository(SqlAlchemyRepository):
    def add(self, subscription: Subscription) -> None:
        self._insert_unique(
            _INSERT_SUB,
            lambda: self._clash(subscription),
            {
                "id": subscription.id,
                "site_id": subscription.site_id,
                "customer_id": subscription.customer_id,
                "amount_in_cents": subscription.amount.amount_in_cents,
                "currency": subscription.amount.currency,
                "created_at": subscription.created_at,
                **self._changeable(subscription),
            },
        )

    def save(self, subscription: Subscription) -> None:
        changed = self._write_unique(
            _UPDATE_SUB,
            lambda: self._clash(subscription, saving=True),
            {"_key": subscription.id, **self._changeable(subscription)},
        )
        if changed == 0:
            raise LookupError(f"subscription {subscription.id} was never added")

    @staticmethod
    def _changeable(subscription: Subscription) -> dict[str, Any]:
        return {
            "status": subscription.status.value,
            "updated_at": subscription.updated_at,
            "expires_at": subscription.expires_at,
            "checkout_id": subscription.checkout_id,
            "checkout_url": subscription.checkout_url,
            "provider_id": subscription.provider_id,
            "current_period_start": subscription.current_period_start,
            "current_period_end": subscription.current_period_end,
            "next_payment_attempt_at": subscription.next_payment_attempt_at,
            "paid_through": subscription.paid_through,
            "cancel_at_period_end": subscription.cancel_at_period_end,
            "started_at": subscription.started_at,
            "cancelled_at": subscription.cancelled_at,
            "ended_at": subscription.ended_at,
            "last_synced_at": subscription.last_synced_at,
        }

    def _clash(self, subscription: Subscription, *, saving: bool = False) -> str:
        """Which unique rule a write broke (asked after it failed, in the same transaction)."""
        if not saving and self._execute(_SUB_EXISTS, {"id": subscription.id}).scalar():
            return f"subscription {subscription.id} exists"
        if (
            subscription.checkout_id is not None
            and self._execute(
                _CHECKOUT_TAKEN, {"id": subscription.checkout_id, "own": subscription.id}
            ).scalar()
        ):
            return f"checkout {subscription.checkout_id} belongs to another subscription"
        return f"provider subscription {subscription.provider_id} belongs to another one"

    def get(self, subscription_id: uuid.UUID, *, for_update: bool = False) -> Subscription | None:
        row = self._lookup(_SUB_BY_ID, {"id": subscription_id}, for_update=for_update).first()
        return _subscription(row) if row is not None else None

    def get_by_provider_id(self, provider_id: str, *, for_update: bool = False) -> Subscription | None:
        row = self._lookup(_SUB_BY_PROVIDER_ID, {"id": provider_id}, for_update=for_update).first()
        return _subscription(row) if row is not None else None

    def get_by_checkout(self, checkout_id: str, *, for_update: bool = False) -> Subscription | None:
        row = self._lookup(_SUB_BY_CHECKOUT, {"id": checkout_id}, for_update=for_update).first()
        return _subscription(row) if row is not None else None

    def for_site(self, site_id: uuid.UUID) -> Sequence[Subscription]:
        return [_subscription(row) for row in self._execute(_SUBS_OF_SITE, {"site_id": site_id})]

    def list(self, *, status: SubscriptionState | None = None, limit: int = 100) -> Sequence[Subscription]:
        where = () if status is None else (_subs.c.status == status.value,)
        return [_subscription(row) for row in self._newest(_subs, _subs.c.created_at, limit, *where)]

    def ending(self, now: dt.datetime, *, limit: int = 100) -> Sequence[Subscription]:
        if limit <= 0:
            return []
        return [_subscription(row) for row in self._execute(_ENDING, {"now": now, "limit": limit})]

    def due_for_sync(
        self, *, period_ended_before: dt.datetime, synced_before: dt.datetime, limit: int = 100
    ) -> Sequence[Subscription]:
        if limit <= 0:
            return []
        params = {"period_ended_before": period_ended_before, "synced_before": synced_before, "limit": limit}
        return [_subscription(row) for row in self._execute(_DUE_FOR_SYNC, params)]

    def add_payment(self, payment: SubscriptionPayment) -> None:
        self._insert_unique(
            _INSERT_PAYMENT,
            f"payment {payment.payment_id} is recorded",
            {
                "payment_id": payment.payment_id,
                "subscription_id": payment.subscription_id,
                "amount_in_cents": payment.amount.amount_in_cents,
                "currency": payment.amount.currency,
                "paid_at": payment.paid_at,
                "period_end": payment.period_end,
                "recorded_at": payment.recorded_at,
            },
        )

    def get_payment(self, payment_id: str) -> SubscriptionPayment | None:
        row = self._execute(_PAYMENT_BY_ID, {"id": payment_id}).first()
        return _payment(row) if row is not None else None

    def payments(self, subscription_id: uuid.UUID) -> Sequence[SubscriptionPayment]:
        return [_payment(row) for row in self._execute(_PAYMENTS_OF, {"id": subscription_id})]


class SqlAlchemyNoticeRepository(SqlAlchemyRepository):
    def add(self, notice: Notice) -> None:
        # Inserted now, not at commit: a concurrent sweep inserting the same key waits on
        # the unique index (PostgreSQL) or the write lock (SQLite) and gets Conflict here.
        self._insert_unique(
            _INSERT_NOTICE,
            f"the notice {notice.key!r} was sent",
            {
                "key": notice.key,
                "kind": notice.kind.value,
                "site_id": notice.site_id,
                "sent_at": notice.sent_at,
            },
        )

    def get(self, key: str) -> Notice | None:
        row = self._execute(_NOTICE_BY_KEY, {"key": key}).first()
        return _notice(row) if row is not None else None

    def for_site(self, site_id: uuid.UUID) -> Sequence[Notice]:
        return [_notice(row) for row in self._execute(_NOTICES_OF_SITE, {"site_id": site_id})]
