"""What operators see of customer accounts: their history, their logins, the mail sent to
them, and the repository port that finds them (``CustomerAdminRepository``)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from typing import Protocol

import attrs

from webmagic_core.accounts.customers import Customer
from webmagic_core.outbox import OutboxStatus
from webmagic_core.payments.purchases import Purchase
from webmagic_core.payments.subscriptions import Subscription
from webmagic_core.ports import UnitOfWork
from webmagic_core.sites import Actor


class AccountStatus(enum.StrEnum):
    """The status filter of ``customers list``: ``inactive`` is deactivated by an operator;
    ``unverified`` and ``active`` are the accounts not deactivated, by their email."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    UNVERIFIED = "unverified"

    @classmethod
    def of(cls, customer: Customer) -> AccountStatus:
        if not customer.active:
            return cls.INACTIVE
        return cls.ACTIVE if customer.email_verified else cls.UNVERIFIED


class AccountEventKind(enum.StrEnum):
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    LINK_SENT = "link_sent"


@attrs.frozen
class AccountEvent:
    """One entry of an account's history, with who did it and why."""

    id: uuid.UUID
    customer_id: uuid.UUID
    kind: AccountEventKind
    detail: str
    actor: Actor
    at: dt.datetime

    @classmethod
    def new(
        cls, customer_id: uuid.UUID, kind: AccountEventKind, detail: str, actor: Actor, at: dt.datetime
    ) -> AccountEvent:
        return cls(id=uuid.uuid4(), customer_id=customer_id, kind=kind, detail=detail, actor=actor, at=at)


@attrs.frozen
class LoginSummary:
    """A login (refresh-token family) still open: not revoked, with a usable token."""

    login_id: uuid.UUID
    started_at: dt.datetime
    last_refreshed_at: dt.datetime
    expires_at: dt.datetime


@attrs.frozen
class EmailSummary:
    """A mail queued for an address and how its delivery went (no body: bodies may hold links)."""

    id: uuid.UUID
    template: str
    status: OutboxStatus
    attempts: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None


class CustomerAdminRepository(Protocol):
    def list(
        self, *, search: str | None = None, status: AccountStatus | None = None, limit: int, offset: int = 0
    ) -> Sequence[Customer]:
        """Newest first (``created_at``, then id). ``search`` matches a part of the email
        or the full name, whatever the case."""
        ...

    def count(self, *, search: str | None = None, status: AccountStatus | None = None) -> int:
        """How many ``list`` would give without a limit."""
        ...

    def add_event(self, event: AccountEvent) -> None: ...

    def events(self, customer_id: uuid.UUID) -> Sequence[AccountEvent]:
        """The account's history, oldest first."""
        ...

    def live_logins(self, customer_id: uuid.UUID, now: dt.datetime) -> Sequence[LoginSummary]:
        """Logins that can still be refreshed at ``now``, newest first."""
        ...

    def purchases(self, customer_id: uuid.UUID) -> Sequence[Purchase]:
        """Purchases the account paid for or made, oldest first."""
        ...

    def subscriptions(self, customer_id: uuid.UUID) -> Sequence[Subscription]:
        """Subscriptions of the account, oldest first."""
        ...

    def emails(self, address: str, *, limit: int = 50) -> Sequence[EmailSummary]:
        """The latest mails queued for ``address``, newest first."""
        ...

    def forget_login_addresses(self, before: dt.datetime) -> int:
        """Clear the last-login address of accounts whose last login is older than
        ``before``; how many were cleared."""
        ...


class CustomerAdminUnitOfWork(UnitOfWork, Protocol):
    @property
    def customer_admin(self) -> CustomerAdminRepository: ...


class CustomerAdminUnitOfWorkFactory(Protocol):
    def __call__(self) -> CustomerAdminUnitOfWork: ...
