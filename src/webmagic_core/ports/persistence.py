"""Persistence: one repository per aggregate, and the unit of work holding them (one
transaction, rolled back unless committed)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, Self

from webmagic_core.accounts.customers import Customer, RefreshSession
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.payments.anomalies import Anomaly
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.subscriptions import Notice, Subscription, SubscriptionPayment, SubscriptionState
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome
from webmagic_core.ports.publishing import PublishQueue
from webmagic_core.ports.sites import SiteRepository


class CustomerRepository(Protocol):
    def add(self, customer: Customer) -> None:
        """Insert; raises ``Conflict`` when the (normalised) email is taken."""
        ...

    def save(self, customer: Customer) -> None:
        """Write a changed customer (``LookupError`` if never added; ``Conflict`` if the
        email is taken by another)."""
        ...

    def get(self, customer_id: uuid.UUID, *, for_update: bool = False) -> Customer | None: ...

    def get_by_email(self, email: str, *, for_update: bool = False) -> Customer | None:
        """Exact match on the normalised address."""
        ...


class RefreshSessionRepository(Protocol):
    def add(self, session: RefreshSession) -> None:
        """Insert; ``Conflict`` if the id or the token hash exists."""
        ...

    def save(self, session: RefreshSession) -> None:
        """Write ``used_at``/``revoked_at`` of a session (``LookupError`` if never added)."""
        ...

    def get_by_token_hash(self, token_hash: str, *, for_update: bool = False) -> RefreshSession | None: ...

    def revoke_family(self, family_id: uuid.UUID, at: dt.datetime) -> int:
        """Revoke every not-yet-revoked token of a login; returns how many."""
        ...

    def revoke_customer(self, customer_id: uuid.UUID, at: dt.datetime) -> int:
        """Revoke every not-yet-revoked token of every login of a customer."""
        ...

    def login_live(self, family_id: uuid.UUID) -> bool:
        """Whether the login (refresh-token family) exists and none of its tokens is revoked:
        access tokens of that login are honoured only while it is."""
        ...


class OutboxRepository(Protocol):
    def add(self, message: OutboxMessage) -> None:
        """Insert; ``Conflict`` if a message with this id exists."""
        ...

    def get(self, message_id: uuid.UUID, *, for_update: bool = False) -> OutboxMessage | None:
        """``for_update``: lock the message until commit (a relay recording an outcome)."""
        ...

    def save(self, message: OutboxMessage) -> None:
        """Write the delivery state (status, attempts, times, last error, claim) of a
        message and its bodies (text, HTML: dropped once sent); recipient, subject,
        template and headers never change (``LookupError`` if never added)."""
        ...

    def claim_due(self, now: dt.datetime, *, limit: int, lease: dt.timedelta) -> Sequence[OutboxMessage]:
        """Pending messages due at ``now`` (``next_attempt_at <= now``) and not held by
        another relay (``claimed_until`` unset or ``<= now``), oldest ``created_at`` first,
        at most ``limit``, marked as held until ``now + lease``. Concurrent callers never
        get the same message (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the write lock on
        SQLite)."""
        ...

    def list(self, *, status: OutboxStatus | None = None, limit: int = 100) -> Sequence[OutboxMessage]:
        """Newest first."""
        ...

    def for_site(self, site_id: uuid.UUID) -> Sequence[OutboxMessage]:
        """Messages about a site, oldest first (for its timeline)."""
        ...

    def count_by_status(self) -> dict[OutboxStatus, int]: ...


class PurchaseRepository(Protocol):
    def add(self, purchase: Purchase) -> None:
        """Insert; ``Conflict`` if the id, or a non-null checkout id, exists."""
        ...

    def save(self, purchase: Purchase) -> None:
        """Write everything but the id, site, amount and created time (``LookupError`` if
        never added; ``Conflict`` if the checkout id is another purchase's)."""
        ...

    def get(self, purchase_id: uuid.UUID, *, for_update: bool = False) -> Purchase | None: ...

    def get_by_checkout(self, checkout_id: str, *, for_update: bool = False) -> Purchase | None: ...

    def for_site(self, site_id: uuid.UUID) -> Sequence[Purchase]:
        """Every purchase of a site, oldest first (``created_at``, then insertion)."""
        ...

    def list(self, *, status: PurchaseStatus | None = None, limit: int = 100) -> Sequence[Purchase]:
        """Newest first (``created_at``), optionally of one status, at most ``limit``."""
        ...


class WebhookEventRepository(Protocol):
    def add(self, event: WebhookEvent) -> None:
        """Insert; ``Conflict`` if an event with this id exists. This is the duplicate
        check: a concurrent insert of the same id (PostgreSQL) waits for the first
        transaction and fails with ``Conflict`` once it commits, so exactly one wins.
        The insert happens now (not at commit), so ``Conflict`` comes from here."""
        ...

    def save(self, event: WebhookEvent) -> None:
        """Write ``processed_at``, ``outcome``, ``error``, ``site_id``, ``purchase_id``
        (the body and type never change; ``LookupError`` if never added)."""
        ...

    def get(self, event_id: str) -> WebhookEvent | None: ...

    def list(self, *, outcome: WebhookOutcome | None = None, limit: int = 100) -> Sequence[WebhookEvent]:
        """Newest first (``received_at``), optionally of one outcome, at most ``limit``."""
        ...

    def for_site(self, site_id: uuid.UUID) -> Sequence[WebhookEvent]:
        """Events that touched a site, oldest first (for its timeline)."""
        ...


class AnomalyRepository(Protocol):
    def add(self, anomaly: Anomaly) -> None:
        """Insert; ``Conflict`` if the id or the ``key`` exists."""
        ...

    def save(self, anomaly: Anomaly) -> None:
        """Write ``resolved_at`` and ``resolution`` (``LookupError`` if never added)."""
        ...

    def get(self, anomaly_id: uuid.UUID) -> Anomaly | None: ...

    def get_by_key(self, key: str) -> Anomaly | None: ...

    def list(self, *, open_only: bool = False, limit: int = 100) -> Sequence[Anomaly]:
        """Newest first (``created_at``); ``open_only``: not yet resolved."""
        ...

    def for_site(self, site_id: uuid.UUID) -> Sequence[Anomaly]:
        """Anomalies about a site, oldest first (for its timeline)."""
        ...


class SubscriptionRepository(Protocol):
    """Subscriptions (``webmagic_core.payments.subscriptions``) and their payments.

    ``checkout_id`` and ``provider_id`` are unique where not NULL. Rows are never deleted."""

    def add(self, subscription: Subscription) -> None:
        """Insert; ``Conflict`` if the id, a non-null checkout id or a non-null provider id
        exists."""
        ...

    def save(self, subscription: Subscription) -> None:
        """Write everything but the id, site, customer, amount and created time
        (``LookupError`` if never added; ``Conflict`` if the checkout id or provider id is
        another subscription's)."""
        ...

    def get(self, subscription_id: uuid.UUID, *, for_update: bool = False) -> Subscription | None: ...

    def get_by_provider_id(self, provider_id: str, *, for_update: bool = False) -> Subscription | None:
        """By the provider's ``su_...`` id."""
        ...

    def get_by_checkout(self, checkout_id: str, *, for_update: bool = False) -> Subscription | None: ...

    def for_site(self, site_id: uuid.UUID) -> Sequence[Subscription]:
        """Every subscription of a site, oldest first (``created_at``, then insertion)."""
        ...

    def list(self, *, status: SubscriptionState | None = None, limit: int = 100) -> Sequence[Subscription]:
        """Newest first (``created_at``, then reverse insertion), optionally of one status,
        at most ``limit``."""
        ...

    def ending(self, now: dt.datetime, *, limit: int = 100) -> Sequence[Subscription]:
        """Cancelled (or, once started, unable to start) subscriptions whose paid time
        is over but that are not marked ended: ``(status = 'cancelled' OR (status =
        'unable_to_start' AND started_at IS NOT NULL)) AND ended_at IS NULL AND
        (paid_through IS NULL OR paid_through <= now)``; ``paid_through`` ascending (NULLs first), then
        ``created_at``; at most ``limit``."""
        ...

    def due_for_sync(
        self, *, period_ended_before: dt.datetime, synced_before: dt.datetime, limit: int = 100
    ) -> Sequence[Subscription]:
        """Subscriptions the provider may have moved on without a webhook reaching us
        (a past_due one is being retried; a paused one may have been unpaused; an active
        one is overdue for its renewal): ``provider_id IS NOT NULL AND (status IN
        ('past_due', 'paused') OR (status = 'active' AND
        (current_period_end IS NULL OR current_period_end <= period_ended_before))) AND
        (last_synced_at IS NULL OR last_synced_at <= synced_before)``; ``last_synced_at``
        ascending (NULLs first), then ``created_at``; at most ``limit``."""
        ...

    def add_payment(self, payment: SubscriptionPayment) -> None:
        """Insert; ``Conflict`` if a payment with this ``payment_id`` exists (payments
        never change afterwards)."""
        ...

    def get_payment(self, payment_id: str) -> SubscriptionPayment | None: ...

    def payments(self, subscription_id: uuid.UUID) -> Sequence[SubscriptionPayment]:
        """The payments of one subscription, oldest first (``paid_at``, then ``payment_id``)."""
        ...


class NoticeRepository(Protocol):
    """Reminders sent once per ``key`` (the sweep's "hosting ends soon" mails)."""

    def add(self, notice: Notice) -> None:
        """Insert; ``Conflict`` if a notice with this key exists. The insert happens now
        (not at commit), so ``Conflict`` comes from here."""
        ...

    def get(self, key: str) -> Notice | None: ...

    def for_site(self, site_id: uuid.UUID) -> Sequence[Notice]:
        """Notices about a site, oldest first (``sent_at``, then insertion)."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``with`` block without ``commit()`` rolls back.

    The repositories are read-only members, so an implementation may hold its own
    repository types (a fake's, with recording extras) where the port is expected."""

    @property
    def sites(self) -> SiteRepository: ...

    @property
    def customers(self) -> CustomerRepository: ...

    @property
    def refresh_sessions(self) -> RefreshSessionRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def purchases(self) -> PurchaseRepository: ...

    @property
    def webhook_events(self) -> WebhookEventRepository: ...

    @property
    def anomalies(self) -> AnomalyRepository: ...

    @property
    def subscriptions(self) -> SubscriptionRepository: ...

    @property
    def notices(self) -> NoticeRepository: ...

    @property
    def publish_queue(self) -> PublishQueue: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction has committed (a log line about
        what it wrote, say); dropped if it rolls back instead. A failing callback is
        logged, never raised: the transaction is committed either way."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
