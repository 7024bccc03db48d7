"""In-memory customers, refresh sessions and outbox (see ``testing.fakes``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import attrs

from webmagic_core.accounts.customers import Customer, RefreshSession
from webmagic_core.accounts.emails import decode_data, encode_data
from webmagic_core.errors import Conflict
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.testing.fake_store import _Store


@attrs.define
class FakeCustomerRepository:
    store: _Store

    def add(self, customer: Customer) -> None:
        if customer.id in self.store.customers:
            raise Conflict(f"customer {customer.id} exists")
        self._check_email_free(customer)
        self.store.customers[customer.id] = attrs.evolve(customer)

    def save(self, customer: Customer) -> None:
        if customer.id not in self.store.customers:
            raise LookupError(f"customer {customer.id} was never added")
        self._check_email_free(customer)
        self.store.customers[customer.id] = attrs.evolve(customer)

    def _check_email_free(self, customer: Customer) -> None:
        if any(c.email == customer.email and c.id != customer.id for c in self.store.customers.values()):
            raise Conflict("an account with this email address exists")

    def get(self, customer_id: uuid.UUID, *, for_update: bool = False) -> Customer | None:
        customer = self.store.customers.get(customer_id)
        return attrs.evolve(customer) if customer else None

    def get_by_email(self, email: str, *, for_update: bool = False) -> Customer | None:
        for customer in self.store.customers.values():
            if customer.email == email:
                return attrs.evolve(customer)
        return None


@attrs.define
class FakeRefreshSessionRepository:
    store: _Store

    def add(self, session: RefreshSession) -> None:
        if session.id in self.store.refresh_sessions or self._by_hash(session.token_hash):
            raise Conflict("this refresh session exists")
        self.store.refresh_sessions[session.id] = attrs.evolve(session)

    def save(self, session: RefreshSession) -> None:
        if session.id not in self.store.refresh_sessions:
            raise LookupError(f"refresh session {session.id} was never added")
        self.store.refresh_sessions[session.id] = attrs.evolve(session)

    def get_by_token_hash(self, token_hash: str, *, for_update: bool = False) -> RefreshSession | None:
        session = self._by_hash(token_hash)
        return attrs.evolve(session) if session else None

    def _by_hash(self, token_hash: str) -> RefreshSession | None:
        return next((s for s in self.store.refresh_sessions.values() if s.token_hash == token_hash), None)

    def revoke_family(self, family_id: uuid.UUID, at: dt.datetime) -> int:
        return self._revoke([s for s in self.store.refresh_sessions.values() if s.family_id == family_id], at)

    def revoke_customer(self, customer_id: uuid.UUID, at: dt.datetime) -> int:
        return self._revoke(
            [s for s in self.store.refresh_sessions.values() if s.customer_id == customer_id], at
        )

    def login_live(self, family_id: uuid.UUID) -> bool:
        family = [s for s in self.store.refresh_sessions.values() if s.family_id == family_id]
        return bool(family) and all(s.revoked_at is None for s in family)

    @staticmethod
    def _revoke(sessions: Sequence[RefreshSession], at: dt.datetime) -> int:
        count = 0
        for session in sessions:
            if session.revoked_at is None:
                session.revoked_at = at
                count += 1
        return count


def _stored(message: OutboxMessage) -> OutboxMessage:
    """A copy, its data through the same JSON encoding as the database's (so a value that
    would not survive the round trip fails here too)."""
    if message.data is None:
        return attrs.evolve(message)
    template = message.message.template
    return attrs.evolve(
        message, data=decode_data(template, encode_data(template, message.data), strict=False)
    )


@attrs.define
class FakeOutboxRepository:
    store: _Store

    def add(self, message: OutboxMessage) -> None:
        if message.id in self.store.outbox:
            raise Conflict(f"outbox message {message.id} exists")
        self.store.outbox[message.id] = _stored(message)

    def get(self, message_id: uuid.UUID, *, for_update: bool = False) -> OutboxMessage | None:
        message = self.store.outbox.get(message_id)
        return attrs.evolve(message) if message else None

    def save(self, message: OutboxMessage) -> None:
        if message.id not in self.store.outbox:
            raise LookupError(f"outbox message {message.id} was never added")
        self.store.outbox[message.id] = _stored(message)

    def claim_due(self, now: dt.datetime, *, limit: int, lease: dt.timedelta) -> Sequence[OutboxMessage]:
        due = [
            m
            for m in self.store.outbox.values()
            if m.status is OutboxStatus.PENDING
            and m.next_attempt_at <= now
            and (m.claimed_until is None or m.claimed_until <= now)
        ]
        # sorted() is stable: equal created_at keep insertion order.
        claimed = sorted(due, key=lambda m: m.created_at)[: max(0, limit)]
        for message in claimed:
            message.claimed_until = now + lease
        return [attrs.evolve(m) for m in claimed]

    def list(self, *, status: OutboxStatus | None = None, limit: int = 100) -> Sequence[OutboxMessage]:
        found = [m for m in reversed(self.store.outbox.values()) if status is None or m.status is status]
        newest_first = sorted(found, key=lambda m: m.created_at, reverse=True)
        return [attrs.evolve(m) for m in newest_first[: max(0, limit)]]

    def for_site(self, site_id: uuid.UUID) -> Sequence[OutboxMessage]:
        found = [m for m in self.store.outbox.values() if m.message.site_id == site_id]
        return [attrs.evolve(m) for m in sorted(found, key=lambda m: m.created_at)]

    def count_by_status(self) -> dict[OutboxStatus, int]:
        counts: dict[OutboxStatus, int] = {}
        for message in self.store.outbox.values():
            counts[message.status] = counts.get(message.status, 0) + 1
        return counts
