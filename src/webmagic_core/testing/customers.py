"""Fakes for the operators' view of customer accounts: ``CustomerAdminRepository`` over the
shared fake store, and a unit of work holding it. They pass the same contract suite as the
SQL adapter (tests/contract/test_customer_admin_repository.py)."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Self

import attrs

from webmagic_core.accounts.admin import AccountEvent, AccountStatus, EmailSummary, LoginSummary
from webmagic_core.accounts.customers import Customer, RefreshSession
from webmagic_core.payments.purchases import Purchase
from webmagic_core.payments.subscriptions import Subscription
from webmagic_core.testing.fakes import FakeUnitOfWork, _Store


@attrs.define
class _AccountStore:
    events: list[AccountEvent] = attrs.field(factory=list)


def _matches(customer: Customer, search: str | None, status: AccountStatus | None) -> bool:
    if status is not None and AccountStatus.of(customer) is not status:
        return False
    if search is None:
        return True
    needle = search.lower()
    return needle in customer.email.lower() or needle in (customer.full_name or "").lower()


@attrs.define
class FakeCustomerAdminRepository:
    store: _Store
    accounts: _AccountStore

    def list(
        self, *, search: str | None = None, status: AccountStatus | None = None, limit: int, offset: int = 0
    ) -> Sequence[Customer]:
        found = [c for c in self.store.customers.values() if _matches(c, search, status)]
        found.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        return [attrs.evolve(c) for c in found[offset : offset + limit]]

    def count(self, *, search: str | None = None, status: AccountStatus | None = None) -> int:
        return sum(1 for c in self.store.customers.values() if _matches(c, search, status))

    def add_event(self, event: AccountEvent) -> None:
        self.accounts.events.append(event)

    def events(self, customer_id: uuid.UUID) -> Sequence[AccountEvent]:
        return sorted((e for e in self.accounts.events if e.customer_id == customer_id), key=lambda e: e.at)

    def live_logins(self, customer_id: uuid.UUID, now: dt.datetime) -> Sequence[LoginSummary]:
        families: dict[uuid.UUID, list[RefreshSession]] = {}
        for session in self.store.refresh_sessions.values():
            if session.customer_id == customer_id:
                families.setdefault(session.family_id, []).append(session)
        logins = [
            LoginSummary(
                login_id=family_id,
                started_at=min(s.created_at for s in sessions),
                last_refreshed_at=max(s.created_at for s in sessions),
                expires_at=max(s.expires_at for s in sessions),
            )
            for family_id, sessions in families.items()
            if all(s.revoked_at is None for s in sessions) and any(s.usable(now) for s in sessions)
        ]
        return sorted(logins, key=lambda login: login.last_refreshed_at, reverse=True)

    def purchases(self, customer_id: uuid.UUID) -> Sequence[Purchase]:
        return [p for p in self.store.purchases.values() if p.customer_id == customer_id]

    def subscriptions(self, customer_id: uuid.UUID) -> Sequence[Subscription]:
        return [s for s in self.store.subscriptions.values() if s.customer_id == customer_id]

    def emails(self, address: str, *, limit: int = 50) -> Sequence[EmailSummary]:
        found = [m for m in self.store.outbox.values() if m.message.to == address]
        return [
            EmailSummary(
                id=m.id,
                template=m.message.template.value,
                status=m.status,
                attempts=m.attempts,
                created_at=m.created_at,
                sent_at=m.sent_at,
                last_error=m.last_error,
            )
            for m in reversed(found)
        ][:limit]

    def forget_login_addresses(self, before: dt.datetime) -> int:
        cleared = 0
        for customer in self.store.customers.values():
            stale = customer.last_login_at is None or customer.last_login_at < before
            if customer.last_login_address is not None and stale:
                customer.last_login_address = None
                cleared += 1
        return cleared


@attrs.define
class FakeCustomerAdminUnitOfWork(FakeUnitOfWork):
    """``FakeUnitOfWork`` with ``customer_admin``; account history rolls back with the rest."""

    account_store: _AccountStore = attrs.field(factory=_AccountStore)
    customer_admin: FakeCustomerAdminRepository = attrs.field(init=False)
    _account_snapshot: _AccountStore | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.customer_admin = FakeCustomerAdminRepository(self.store, self.account_store)

    def __enter__(self) -> Self:
        self._account_snapshot = copy.deepcopy(self.account_store)
        return super().__enter__()

    def __exit__(self, *exc: object) -> None:
        super().__exit__(None, None, None)
        if self._account_snapshot is not None:
            self.account_store.events = self._account_snapshot.events
            self._account_snapshot = None

    def commit(self) -> None:
        super().commit()
        if self._account_snapshot is not None:
            self._account_snapshot = copy.deepcopy(self.account_store)

    def rollback(self) -> None:
        super().rollback()
        if self._account_snapshot is not None:
            self.account_store.events = self._account_snapshot.events
            self._account_snapshot = copy.deepcopy(self.account_store)


@attrs.define
class FakeCustomerAdminUnitOfWorkFactory:
    """Units of work over one shared store, account history included."""

    store: _Store = attrs.field(factory=_Store)
    account_store: _AccountStore = attrs.field(factory=_AccountStore)

    def __call__(self) -> FakeCustomerAdminUnitOfWork:
        return FakeCustomerAdminUnitOfWork(store=self.store, account_store=self.account_store)
