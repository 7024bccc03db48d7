"""Ports: what the core needs from the outside world, as Protocols.

Adapters in ``webmagic_adapters`` implement them; fakes in ``webmagic_core.testing``
implement them in memory and pass the same contract suites (``tests/contract``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Protocol, Self

import attrs

from webmagic_core.accounts.customers import Customer, RefreshSession
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.payments.anomalies import Anomaly
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.subscriptions import Notice, Subscription, SubscriptionPayment, SubscriptionState
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome
from webmagic_core.site_files import SiteFiles
from webmagic_core.sites import Site, SiteEvent, SiteVersion, SiteVersionSummary


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        ...


@attrs.frozen
class SiteHead:
    """The few fields hosting needs per request, read without loading a whole site."""

    id: uuid.UUID
    slug: str
    business_name: str
    status: SiteStatus
    current_version: int


class SiteDirectory(Protocol):
    """The read side hosting asks on every request, outside any unit of work.

    Answers what the last committed transaction (of any process sharing the database)
    left behind, so a new version or status is served on the very next request: an
    adapter may keep connections and prepared statements, but an answer only for as long
    as it can tell that nothing was committed since.
    """

    def head_by_slug(self, slug: str) -> SiteHead | None:
        """The head of the site named ``slug`` in any status, as last committed."""
        ...


@attrs.frozen
class BlobUsage:
    blobs: int
    bytes: int


class SiteRewriter(Protocol):
    """Computes, when a version is written, what its files are served as."""

    def rewrite(self, files: SiteFiles, base: str) -> Mapping[str, bytes]:
        """The served bytes of each file whose bytes differ from the uploaded ones, for a
        site served under ``base``: ``"/{slug}"`` (path hosting) or ``""`` (a domain root)."""
        ...

    def insert_banner(self, page: bytes, banner: str, *, rewritten: bool = False) -> bytes:
        """``page`` with the ``banner`` HTML added at the end of its body; ``rewritten``
        says ``page`` is what ``rewrite`` made of a page (not the uploaded bytes)."""
        ...


class SiteRepository(Protocol):
    def add(self, site: Site) -> None:
        """Insert a new site and its pending events. Raises ``Conflict`` if the slug is taken."""
        ...

    def save(self, site: Site) -> None:
        """Write a changed site and its pending events (clearing them)."""
        ...

    def get(self, site_id: uuid.UUID) -> Site | None: ...

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Site | None:
        """The site named ``slug`` in any status; ``for_update`` locks its row until commit."""
        ...

    def head_by_slug(self, slug: str) -> SiteHead | None: ...

    def list(self, *, status: SiteStatus | None = None, owner_id: uuid.UUID | None = None) -> Sequence[Site]:
        """Sites ordered by slug, optionally only those of one status and/or one owner."""
        ...

    def count_by_status(self) -> dict[SiteStatus, int]: ...

    def add_version(self, version: SiteVersion, bodies: Mapping[str, bytes]) -> None:
        """Insert a version and its file list. ``bodies`` maps digest -> bytes for every
        digest the files name (uploaded and served); a body already stored is not stored
        again. Raises ``Conflict`` if that number exists for the site, ``ValueError`` if
        a file names a digest neither in ``bodies`` nor stored."""
        ...

    def get_version(self, site_id: uuid.UUID, number: int) -> SiteVersion | None: ...

    def list_versions(self, site_id: uuid.UUID) -> Sequence[SiteVersion]:
        """Versions newest first, with their file lists."""
        ...

    def get_body(self, digest: str) -> bytes | None:
        """The stored bytes with this SHA-256 digest."""
        ...

    def collect_garbage(self) -> BlobUsage:
        """Delete every stored body no version file names; returns what was deleted.
        Safe while versions are written (a body is never deleted under a version that
        is being added)."""
        ...

    def blob_usage(self) -> BlobUsage:
        """How many bodies are stored, and their bytes."""
        ...

    def version_summaries(self, site_id: uuid.UUID) -> Sequence[SiteVersionSummary]:
        """Versions newest first, without loading their files."""
        ...

    def events(self, site_id: uuid.UUID) -> Sequence[SiteEvent]:
        """Every recorded transition of a site, oldest first."""
        ...


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

    def get(self, message_id: uuid.UUID) -> OutboxMessage | None: ...

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


@attrs.frozen
class SalesFigures:
    """Raw sales counts; ``StatsService`` derives the rest (conversion...). A status
    with no rows may be absent from the mappings."""

    sites_by_status: Mapping[SiteStatus, int]
    purchases_by_status: Mapping[PurchaseStatus, int]
    # Sum of the amounts of paid purchases, per currency code, in cents.
    revenue_by_currency: Mapping[str, int]
    # Distinct sites with at least one paid purchase (whatever their status now).
    sites_purchased: int
    open_anomalies: int


@attrs.frozen
class SubscriptionFigures:
    """Raw subscription counts over a window ``(since, now]``; ``StatsService`` derives
    MRR and churn. A status with no rows may be absent from ``by_status``."""

    by_status: Mapping[SubscriptionState, int]
    # Sum of the amounts of the subscriptions whose status is active or past_due, per
    # currency code, in cents.
    monthly_by_currency: Mapping[str, int]
    # Subscribed at the window's start: started_at <= since AND (ended_at IS NULL OR
    # ended_at > since).
    subscribed_at_start: int
    # Of those, the ones that ended within the window: since < ended_at <= now.
    ended_in_window: int


class StatsQuery(Protocol):
    """The read side of ``webmagic stats``: aggregates (COUNT, SUM ... GROUP BY) computed
    by the database, never by loading rows; outside any unit of work."""

    def sales(self) -> SalesFigures: ...

    def subscriptions(self, since: dt.datetime, now: dt.datetime) -> SubscriptionFigures: ...


class RateLimiter(Protocol):
    """Counts events per key in a sliding window (in memory, or Redis when shared).

    At most ``limit`` events are counted in any ``window``; an event refused by ``hit`` is
    not counted, so a client that keeps knocking is let in again when the window allows,
    exactly ``retry_after`` seconds later. Implementations: ``webmagic_core.ratelimit``
    (in memory, the default) and the Redis adapter; tests/unit/test_rate_limiter.py pins
    the behaviour down.
    """

    def hit(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        """Count one event: None when it fits within ``limit`` (and is counted), else the
        whole seconds (at least 1) until one more event would fit (and nothing is counted)."""
        ...

    def peek(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        """What ``hit`` would answer right now, without counting anything."""
        ...

    def reset(self, key: str) -> None:
        """Forget every event of ``key``."""
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
