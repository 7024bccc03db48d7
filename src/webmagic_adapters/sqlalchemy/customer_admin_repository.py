"""``CustomerAdminRepository`` on SQLAlchemy Core (the operators' queries about accounts)
and the unit of work that holds it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, update

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.accounts_repositories import _customer
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.payments_repositories import _purchase
from webmagic_adapters.sqlalchemy.repositories import AnyRow, Insertion, SqlAlchemyRepository
from webmagic_adapters.sqlalchemy.subscriptions_repositories import _subscription
from webmagic_adapters.sqlalchemy.uow import SqlAlchemyUnitOfWork
from webmagic_core.accounts.admin import (
    AccountEvent,
    AccountEventKind,
    AccountStatus,
    EmailSummary,
    LoginSummary,
)
from webmagic_core.accounts.customers import Customer
from webmagic_core.outbox import OutboxStatus
from webmagic_core.payments.purchases import Purchase
from webmagic_core.payments.subscriptions import Subscription
from webmagic_core.sites import Actor

_c = t.customer_users
_e = t.customer_events
_s = t.refresh_sessions
_o = t.outbox_messages
_INSERT_EVENT = Insertion(_e)


def _event(row: AnyRow) -> AccountEvent:
    return AccountEvent(
        id=row.id,
        customer_id=row.customer_id,
        kind=AccountEventKind(row.kind),
        detail=row.detail,
        actor=Actor(row.actor),
        at=row.at,
    )


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(search: str | None, status: AccountStatus | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if search:
        pattern = _like(search)
        where.append(
            or_(
                func.lower(_c.c.email).like(pattern, escape="\\"),
                func.lower(func.coalesce(_c.c.full_name, "")).like(pattern, escape="\\"),
            )
        )
    if status is AccountStatus.INACTIVE:
        where.append(_c.c.deactivated_at.is_not(None))
    elif status is AccountStatus.ACTIVE:
        where.append(and_(_c.c.deactivated_at.is_(None), _c.c.email_verified_at.is_not(None)))
    elif status is AccountStatus.UNVERIFIED:
        where.append(and_(_c.c.deactivated_at.is_(None), _c.c.email_verified_at.is_(None)))
    return where


class SqlAlchemyCustomerAdminRepository(SqlAlchemyRepository):
    def list(
        self, *, search: str | None = None, status: AccountStatus | None = None, limit: int, offset: int = 0
    ) -> Sequence[Customer]:
        query = (
            select(_c)
            .where(*_filters(search, status))
            .order_by(_c.c.created_at.desc(), _c.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [_customer(row) for row in self._execute(query).all()]

    def count(self, *, search: str | None = None, status: AccountStatus | None = None) -> int:
        query = select(func.count()).select_from(_c).where(*_filters(search, status))
        return int(self._execute(query).scalar_one())

    def add_event(self, event: AccountEvent) -> None:
        self._insert_unique(
            _INSERT_EVENT,
            f"account event {event.id} exists",
            {
                "id": event.id,
                "customer_id": event.customer_id,
                "kind": event.kind.value,
                "detail": event.detail,
                "actor": event.actor.value,
                "at": event.at,
            },
        )

    def events(self, customer_id: uuid.UUID) -> Sequence[AccountEvent]:
        return [_event(row) for row in self._oldest(_e, _e.c.at, _e.c.customer_id == customer_id)]

    def live_logins(self, customer_id: uuid.UUID, now: dt.datetime) -> Sequence[LoginSummary]:
        usable = and_(_s.c.used_at.is_(None), _s.c.revoked_at.is_(None), _s.c.expires_at > now)
        query = (
            select(
                _s.c.family_id,
                func.min(_s.c.created_at),
                func.max(_s.c.created_at),
                func.max(_s.c.expires_at),
            )
            .where(_s.c.customer_id == customer_id)
            .group_by(_s.c.family_id)
            .having(func.count(_s.c.revoked_at) == 0)
            .having(func.count().filter(usable) > 0)
        )
        # min/max keep the column's type, so the times come back UTC-aware on both backends.
        logins = [
            LoginSummary(login_id=row[0], started_at=row[1], last_refreshed_at=row[2], expires_at=row[3])
            for row in self._execute(query).all()
        ]
        return sorted(logins, key=lambda login: login.last_refreshed_at, reverse=True)

    def purchases(self, customer_id: uuid.UUID) -> Sequence[Purchase]:
        p = t.purchases
        return [_purchase(row) for row in self._oldest(p, p.c.created_at, p.c.customer_id == customer_id)]

    def subscriptions(self, customer_id: uuid.UUID) -> Sequence[Subscription]:
        s = t.subscriptions
        return [_subscription(row) for row in self._oldest(s, s.c.created_at, s.c.customer_id == customer_id)]

    def emails(self, address: str, *, limit: int = 50) -> Sequence[EmailSummary]:
        query = (
            select(
                _o.c.id,
                _o.c.template,
                _o.c.status,
                _o.c.attempts,
                _o.c.created_at,
                _o.c.sent_at,
                _o.c.last_error,
            )
            .where(_o.c.recipient == address)
            .order_by(_o.c.created_at.desc(), _o.c.seq.desc())
            .limit(limit)
        )
        return [
            EmailSummary(
                id=row.id,
                template=row.template,
                status=OutboxStatus(row.status),
                attempts=row.attempts,
                created_at=row.created_at,
                sent_at=row.sent_at,
                last_error=row.last_error,
            )
            for row in self._execute(query).all()
        ]

    def forget_login_addresses(self, before: dt.datetime) -> int:
        stale = or_(_c.c.last_login_at.is_(None), _c.c.last_login_at < before)
        result = self._write(
            update(_c).where(_c.c.last_login_address.is_not(None), stale).values(last_login_address=None)
        )
        return int(result.rowcount)


class SqlAlchemyCustomerAdminUnitOfWork(SqlAlchemyUnitOfWork):
    """The unit of work with ``customer_admin`` as well."""

    def __init__(self, engine: Engine, **options: Any) -> None:
        super().__init__(engine, **options)
        self._customer_admin = SqlAlchemyCustomerAdminRepository(self.connection)

    @property
    def customer_admin(self) -> SqlAlchemyCustomerAdminRepository:
        return self._customer_admin


def customer_admin_units_of_work(database: Database) -> Callable[[], SqlAlchemyCustomerAdminUnitOfWork]:
    """The ``CustomerAdminUnitOfWorkFactory`` of a database (same engine and write gate)."""

    def make() -> SqlAlchemyCustomerAdminUnitOfWork:
        return database.unit_of_work_of(SqlAlchemyCustomerAdminUnitOfWork)

    return make
