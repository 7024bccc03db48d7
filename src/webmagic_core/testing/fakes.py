"""In-memory implementations of the ports, with the same transaction semantics.

The fake unit of work snapshots the store on entry and restores it unless ``commit()``
is called, so a service that forgets to commit loses its writes here as it would on a
real database.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self

import attrs

from webmagic_core.accounts.customers import Customer, RefreshSession
from webmagic_core.commit_hooks import run_after_commit
from webmagic_core.errors import Conflict
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.payments.anomalies import Anomaly
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.subscriptions import Notice, Subscription, SubscriptionPayment, SubscriptionState
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome
from webmagic_core.ports import BlobUsage, SalesFigures, SiteHead, SubscriptionFigures
from webmagic_core.ratelimit import InMemoryRateLimiter
from webmagic_core.sites import Site, SiteEvent, SiteVersion, SiteVersionSummary


@attrs.define
class FakeClock:
    current: dt.datetime = attrs.field(factory=lambda: dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC))

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self.current += delta
        return self.current


@attrs.define
class _Store:
    sites: dict[uuid.UUID, Site] = attrs.field(factory=dict)
    versions: dict[tuple[uuid.UUID, int], SiteVersion] = attrs.field(factory=dict)
    blobs: dict[str, bytes] = attrs.field(factory=dict)
    events: list[SiteEvent] = attrs.field(factory=list)
    customers: dict[uuid.UUID, Customer] = attrs.field(factory=dict)
    refresh_sessions: dict[uuid.UUID, RefreshSession] = attrs.field(factory=dict)
    # Insertion order is creation order: ties on created_at keep it, as "oldest first" wants.
    outbox: dict[uuid.UUID, OutboxMessage] = attrs.field(factory=dict)
    purchases: dict[uuid.UUID, Purchase] = attrs.field(factory=dict)
    webhook_events: dict[str, WebhookEvent] = attrs.field(factory=dict)
    anomalies: dict[uuid.UUID, Anomaly] = attrs.field(factory=dict)
    subscriptions: dict[uuid.UUID, Subscription] = attrs.field(factory=dict)
    subscription_payments: dict[str, SubscriptionPayment] = attrs.field(factory=dict)
    notices: dict[str, Notice] = attrs.field(factory=dict)


def _detached(site: Site) -> Site:
    return attrs.evolve(site, pending_events=[])


@attrs.define
class FakeSiteRepository:
    store: _Store

    def add(self, site: Site) -> None:
        if any(s.slug == site.slug for s in self.store.sites.values()):
            raise Conflict(f"the slug {site.slug!r} is already taken")
        self.store.sites[site.id] = _detached(site)
        self._flush_events(site)

    def save(self, site: Site) -> None:
        if site.id not in self.store.sites:
            raise LookupError(f"site {site.id} was never added")
        self.store.sites[site.id] = _detached(site)
        self._flush_events(site)

    def _flush_events(self, site: Site) -> None:
        self.store.events.extend(site.pending_events)
        site.pending_events.clear()

    def get(self, site_id: uuid.UUID) -> Site | None:
        site = self.store.sites.get(site_id)
        return _detached(site) if site else None

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Site | None:
        for site in self.store.sites.values():
            if site.slug == slug:
                return _detached(site)
        return None

    def head_by_slug(self, slug: str) -> SiteHead | None:
        site = self.get_by_slug(slug)
        if site is None:
            return None
        return SiteHead(
            id=site.id,
            slug=site.slug,
            business_name=site.business_name,
            status=site.status,
            current_version=site.current_version,
        )

    def list(self, *, status: SiteStatus | None = None, owner_id: uuid.UUID | None = None) -> Sequence[Site]:
        sites = [
            _detached(s)
            for s in self.store.sites.values()
            if (status is None or s.status is status) and (owner_id is None or s.owner_id == owner_id)
        ]
        return sorted(sites, key=lambda s: s.slug)

    def count_by_status(self) -> dict[SiteStatus, int]:
        counts: dict[SiteStatus, int] = {}
        for site in self.store.sites.values():
            counts[site.status] = counts.get(site.status, 0) + 1
        return counts

    def add_version(self, version: SiteVersion, bodies: Mapping[str, bytes]) -> None:
        key = (version.site_id, version.number)
        if key in self.store.versions:
            raise Conflict(f"version {version.number} of site {version.site_id} exists")
        for file in version.files:
            for digest in (file.digest, file.slug_digest, file.root_digest):
                if digest not in bodies and digest not in self.store.blobs:
                    raise ValueError(f"{file.path}: no body for digest {digest}")
        for file in version.files:
            for digest in (file.digest, file.slug_digest, file.root_digest):
                if digest not in self.store.blobs:
                    self.store.blobs[digest] = bytes(bodies[digest])
        self.store.versions[key] = version

    def get_body(self, digest: str) -> bytes | None:
        return self.store.blobs.get(digest)

    def collect_garbage(self) -> BlobUsage:
        used = {
            digest
            for version in self.store.versions.values()
            for file in version.files
            for digest in (file.digest, file.slug_digest, file.root_digest)
        }
        unused = [digest for digest in self.store.blobs if digest not in used]
        freed = sum(len(self.store.blobs.pop(digest)) for digest in unused)
        return BlobUsage(blobs=len(unused), bytes=freed)

    def blob_usage(self) -> BlobUsage:
        return BlobUsage(blobs=len(self.store.blobs), bytes=sum(map(len, self.store.blobs.values())))

    def get_version(self, site_id: uuid.UUID, number: int) -> SiteVersion | None:
        return self.store.versions.get((site_id, number))

    def list_versions(self, site_id: uuid.UUID) -> Sequence[SiteVersion]:
        found = [v for (sid, _), v in self.store.versions.items() if sid == site_id]
        return sorted(found, key=lambda v: v.number, reverse=True)

    def version_summaries(self, site_id: uuid.UUID) -> Sequence[SiteVersionSummary]:
        return [
            SiteVersionSummary(
                number=v.number, created_at=v.created_at, cause=v.cause, created_by=v.created_by
            )
            for v in self.list_versions(site_id)
        ]

    def events(self, site_id: uuid.UUID) -> Sequence[SiteEvent]:
        return [e for e in self.store.events if e.site_id == site_id]


# Repositories hand out and keep copies: a change is stored only through add/save, as in
# a database, so a service that forgets to save is caught here too.


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


@attrs.define
class FakeOutboxRepository:
    store: _Store

    def add(self, message: OutboxMessage) -> None:
        if message.id in self.store.outbox:
            raise Conflict(f"outbox message {message.id} exists")
        self.store.outbox[message.id] = attrs.evolve(message)

    def get(self, message_id: uuid.UUID) -> OutboxMessage | None:
        message = self.store.outbox.get(message_id)
        return attrs.evolve(message) if message else None

    def save(self, message: OutboxMessage) -> None:
        if message.id not in self.store.outbox:
            raise LookupError(f"outbox message {message.id} was never added")
        self.store.outbox[message.id] = attrs.evolve(message)

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


@attrs.define
class FakePurchaseRepository:
    store: _Store

    def add(self, purchase: Purchase) -> None:
        if purchase.id in self.store.purchases:
            raise Conflict(f"purchase {purchase.id} exists")
        self._check_checkout_free(purchase)
        self.store.purchases[purchase.id] = attrs.evolve(purchase)

    def save(self, purchase: Purchase) -> None:
        if purchase.id not in self.store.purchases:
            raise LookupError(f"purchase {purchase.id} was never added")
        self._check_checkout_free(purchase)
        self.store.purchases[purchase.id] = attrs.evolve(purchase)

    def _check_checkout_free(self, purchase: Purchase) -> None:
        if purchase.checkout_id is not None and any(
            p.checkout_id == purchase.checkout_id and p.id != purchase.id
            for p in self.store.purchases.values()
        ):
            raise Conflict(f"checkout {purchase.checkout_id} belongs to another purchase")

    def get(self, purchase_id: uuid.UUID, *, for_update: bool = False) -> Purchase | None:
        purchase = self.store.purchases.get(purchase_id)
        return attrs.evolve(purchase) if purchase else None

    def get_by_checkout(self, checkout_id: str, *, for_update: bool = False) -> Purchase | None:
        found = next((p for p in self.store.purchases.values() if p.checkout_id == checkout_id), None)
        return attrs.evolve(found) if found else None

    def for_site(self, site_id: uuid.UUID) -> Sequence[Purchase]:
        found = [p for p in self.store.purchases.values() if p.site_id == site_id]
        return [attrs.evolve(p) for p in sorted(found, key=lambda p: p.created_at)]

    def list(self, *, status: PurchaseStatus | None = None, limit: int = 100) -> Sequence[Purchase]:
        found = [p for p in reversed(self.store.purchases.values()) if status is None or p.status is status]
        newest_first = sorted(found, key=lambda p: p.created_at, reverse=True)
        return [attrs.evolve(p) for p in newest_first[: max(0, limit)]]


@attrs.define
class FakeWebhookEventRepository:
    store: _Store

    def add(self, event: WebhookEvent) -> None:
        if event.id in self.store.webhook_events:
            raise Conflict(f"webhook event {event.id} exists")
        self.store.webhook_events[event.id] = attrs.evolve(event)

    def save(self, event: WebhookEvent) -> None:
        stored = self.store.webhook_events.get(event.id)
        if stored is None:
            raise LookupError(f"webhook event {event.id} was never added")
        # The body and type never change, as in the SQL adapter.
        self.store.webhook_events[event.id] = attrs.evolve(
            event, event_type=stored.event_type, body=stored.body, received_at=stored.received_at
        )

    def get(self, event_id: str) -> WebhookEvent | None:
        event = self.store.webhook_events.get(event_id)
        return attrs.evolve(event) if event else None

    def list(self, *, outcome: WebhookOutcome | None = None, limit: int = 100) -> Sequence[WebhookEvent]:
        found = [
            e for e in reversed(self.store.webhook_events.values()) if outcome is None or e.outcome is outcome
        ]
        newest_first = sorted(found, key=lambda e: e.received_at, reverse=True)
        return [attrs.evolve(e) for e in newest_first[: max(0, limit)]]

    def for_site(self, site_id: uuid.UUID) -> Sequence[WebhookEvent]:
        found = [e for e in self.store.webhook_events.values() if e.site_id == site_id]
        return [attrs.evolve(e) for e in sorted(found, key=lambda e: e.received_at)]


@attrs.define
class FakeAnomalyRepository:
    store: _Store

    def add(self, anomaly: Anomaly) -> None:
        if anomaly.id in self.store.anomalies:
            raise Conflict(f"anomaly {anomaly.id} exists")
        if any(a.key == anomaly.key for a in self.store.anomalies.values()):
            raise Conflict(f"an anomaly with the key {anomaly.key!r} exists")
        self.store.anomalies[anomaly.id] = attrs.evolve(anomaly)

    def save(self, anomaly: Anomaly) -> None:
        stored = self.store.anomalies.get(anomaly.id)
        if stored is None:
            raise LookupError(f"anomaly {anomaly.id} was never added")
        self.store.anomalies[anomaly.id] = attrs.evolve(
            stored, resolved_at=anomaly.resolved_at, resolution=anomaly.resolution
        )

    def get(self, anomaly_id: uuid.UUID) -> Anomaly | None:
        anomaly = self.store.anomalies.get(anomaly_id)
        return attrs.evolve(anomaly) if anomaly else None

    def get_by_key(self, key: str) -> Anomaly | None:
        found = next((a for a in self.store.anomalies.values() if a.key == key), None)
        return attrs.evolve(found) if found else None

    def list(self, *, open_only: bool = False, limit: int = 100) -> Sequence[Anomaly]:
        found = [a for a in reversed(self.store.anomalies.values()) if not open_only or a.is_open]
        newest_first = sorted(found, key=lambda a: a.created_at, reverse=True)
        return [attrs.evolve(a) for a in newest_first[: max(0, limit)]]

    def for_site(self, site_id: uuid.UUID) -> Sequence[Anomaly]:
        found = [a for a in self.store.anomalies.values() if a.site_id == site_id]
        return [attrs.evolve(a) for a in sorted(found, key=lambda a: a.created_at)]


@attrs.define
class FakeSubscriptionRepository:
    store: _Store

    def add(self, subscription: Subscription) -> None:
        if subscription.id in self.store.subscriptions:
            raise Conflict(f"subscription {subscription.id} exists")
        self._check_unique(subscription)
        self.store.subscriptions[subscription.id] = attrs.evolve(subscription)

    def save(self, subscription: Subscription) -> None:
        stored = self.store.subscriptions.get(subscription.id)
        if stored is None:
            raise LookupError(f"subscription {subscription.id} was never added")
        self._check_unique(subscription)
        # The site, customer, amount and created time never change, as in the SQL adapter.
        self.store.subscriptions[subscription.id] = attrs.evolve(
            subscription,
            site_id=stored.site_id,
            customer_id=stored.customer_id,
            amount=stored.amount,
            created_at=stored.created_at,
        )

    def _check_unique(self, subscription: Subscription) -> None:
        for other in self.store.subscriptions.values():
            if other.id == subscription.id:
                continue
            if subscription.checkout_id is not None and other.checkout_id == subscription.checkout_id:
                raise Conflict(f"checkout {subscription.checkout_id} belongs to another subscription")
            if subscription.provider_id is not None and other.provider_id == subscription.provider_id:
                raise Conflict(f"provider subscription {subscription.provider_id} belongs to another one")

    def get(self, subscription_id: uuid.UUID, *, for_update: bool = False) -> Subscription | None:
        found = self.store.subscriptions.get(subscription_id)
        return attrs.evolve(found) if found else None

    def get_by_provider_id(self, provider_id: str, *, for_update: bool = False) -> Subscription | None:
        return self._first(lambda s: s.provider_id == provider_id)

    def get_by_checkout(self, checkout_id: str, *, for_update: bool = False) -> Subscription | None:
        return self._first(lambda s: s.checkout_id == checkout_id)

    def _first(self, match: Callable[[Subscription], bool]) -> Subscription | None:
        found = next((s for s in self.store.subscriptions.values() if match(s)), None)
        return attrs.evolve(found) if found else None

    def for_site(self, site_id: uuid.UUID) -> Sequence[Subscription]:
        found = [s for s in self.store.subscriptions.values() if s.site_id == site_id]
        return [attrs.evolve(s) for s in sorted(found, key=lambda s: s.created_at)]

    def list(self, *, status: SubscriptionState | None = None, limit: int = 100) -> Sequence[Subscription]:
        found = [
            s for s in reversed(self.store.subscriptions.values()) if status is None or s.status is status
        ]
        newest_first = sorted(found, key=lambda s: s.created_at, reverse=True)
        return [attrs.evolve(s) for s in newest_first[: max(0, limit)]]

    def ending(self, now: dt.datetime, *, limit: int = 100) -> Sequence[Subscription]:
        found = [
            s
            for s in self.store.subscriptions.values()
            if (
                s.status is SubscriptionState.CANCELLED
                or (s.status is SubscriptionState.UNABLE_TO_START and s.started_at is not None)
            )
            and s.ended_at is None
            and (s.paid_through is None or s.paid_through <= now)
        ]
        # NULL paid_through first, as the port says.
        ordered = sorted(
            found, key=lambda s: (s.paid_through is not None, s.paid_through or now, s.created_at)
        )
        return [attrs.evolve(s) for s in ordered[: max(0, limit)]]

    def due_for_sync(
        self, *, period_ended_before: dt.datetime, synced_before: dt.datetime, limit: int = 100
    ) -> Sequence[Subscription]:
        found = [
            s
            for s in self.store.subscriptions.values()
            if s.provider_id is not None
            and (
                s.status in (SubscriptionState.PAST_DUE, SubscriptionState.PAUSED)
                or (
                    s.status is SubscriptionState.ACTIVE
                    and (s.current_period_end is None or s.current_period_end <= period_ended_before)
                )
            )
            and (s.last_synced_at is None or s.last_synced_at <= synced_before)
        ]
        ordered = sorted(
            found,
            key=lambda s: (s.last_synced_at is not None, s.last_synced_at or synced_before, s.created_at),
        )
        return [attrs.evolve(s) for s in ordered[: max(0, limit)]]

    def add_payment(self, payment: SubscriptionPayment) -> None:
        if payment.payment_id in self.store.subscription_payments:
            raise Conflict(f"payment {payment.payment_id} is recorded")
        self.store.subscription_payments[payment.payment_id] = payment

    def get_payment(self, payment_id: str) -> SubscriptionPayment | None:
        return self.store.subscription_payments.get(payment_id)

    def payments(self, subscription_id: uuid.UUID) -> Sequence[SubscriptionPayment]:
        found = [p for p in self.store.subscription_payments.values() if p.subscription_id == subscription_id]
        return sorted(found, key=lambda p: p.order_key)


@attrs.define
class FakeNoticeRepository:
    store: _Store

    def add(self, notice: Notice) -> None:
        if notice.key in self.store.notices:
            raise Conflict(f"the notice {notice.key!r} was sent")
        self.store.notices[notice.key] = notice

    def get(self, key: str) -> Notice | None:
        return self.store.notices.get(key)

    def for_site(self, site_id: uuid.UUID) -> Sequence[Notice]:
        found = [n for n in self.store.notices.values() if n.site_id == site_id]
        return sorted(found, key=lambda n: n.sent_at)


@attrs.define
class FakeStatsQuery:
    """Computes by iterating what the SQL adapter computes with aggregates."""

    store: _Store

    def sales(self) -> SalesFigures:
        sites: dict[SiteStatus, int] = {}
        for site in self.store.sites.values():
            sites[site.status] = sites.get(site.status, 0) + 1
        purchases: dict[PurchaseStatus, int] = {}
        revenue: dict[str, int] = {}
        purchased: set[uuid.UUID] = set()
        for purchase in self.store.purchases.values():
            purchases[purchase.status] = purchases.get(purchase.status, 0) + 1
            if purchase.status is PurchaseStatus.PAID:
                currency = purchase.amount.currency
                revenue[currency] = revenue.get(currency, 0) + purchase.amount.amount_in_cents
                purchased.add(purchase.site_id)
        return SalesFigures(
            sites_by_status=sites,
            purchases_by_status=purchases,
            revenue_by_currency=revenue,
            sites_purchased=len(purchased),
            open_anomalies=sum(1 for a in self.store.anomalies.values() if a.is_open),
        )

    def _resumed(self, ended: Subscription, now: dt.datetime) -> bool:
        """Another subscription of the site carried on when this one ended: not churn."""
        assert ended.ended_at is not None
        return any(
            other.id != ended.id
            and other.site_id == ended.site_id
            and other.started_at is not None
            and other.started_at <= now
            and (other.ended_at is None or other.ended_at > ended.ended_at)
            for other in self.store.subscriptions.values()
        )

    def subscriptions(self, since: dt.datetime, now: dt.datetime) -> SubscriptionFigures:
        by_status: dict[SubscriptionState, int] = {}
        monthly: dict[str, int] = {}
        at_start = ended = 0
        for sub in self.store.subscriptions.values():
            by_status[sub.status] = by_status.get(sub.status, 0) + 1
            if sub.status in (SubscriptionState.ACTIVE, SubscriptionState.PAST_DUE):
                currency = sub.amount.currency
                monthly[currency] = monthly.get(currency, 0) + sub.amount.amount_in_cents
            running_at_start = sub.started_at is not None and sub.started_at <= since
            if running_at_start and (sub.ended_at is None or sub.ended_at > since):
                at_start += 1
                if sub.ended_at is not None and sub.ended_at <= now and not self._resumed(sub, now):
                    ended += 1
        return SubscriptionFigures(
            by_status=by_status,
            monthly_by_currency=monthly,
            subscribed_at_start=at_start,
            ended_in_window=ended,
        )


@attrs.define
class FakeRateLimiter(InMemoryRateLimiter):
    """The in-memory limiter (driven by a ``FakeClock``), recording every counted or
    refused ``hit`` as ``(key, allowed)`` and every ``reset`` key."""

    hits: list[tuple[str, bool]] = attrs.field(factory=list)
    resets: list[str] = attrs.field(factory=list)

    def hit(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        wait = super().hit(key, limit=limit, window=window)
        self.hits.append((key, wait is None))
        return wait

    def reset(self, key: str) -> None:
        super().reset(key)
        self.resets.append(key)


@attrs.define
class FakeUnitOfWork:
    store: _Store = attrs.field(factory=_Store)
    committed: int = 0
    sites: FakeSiteRepository = attrs.field(init=False)
    customers: FakeCustomerRepository = attrs.field(init=False)
    refresh_sessions: FakeRefreshSessionRepository = attrs.field(init=False)
    outbox: FakeOutboxRepository = attrs.field(init=False)
    purchases: FakePurchaseRepository = attrs.field(init=False)
    webhook_events: FakeWebhookEventRepository = attrs.field(init=False)
    anomalies: FakeAnomalyRepository = attrs.field(init=False)
    subscriptions: FakeSubscriptionRepository = attrs.field(init=False)
    notices: FakeNoticeRepository = attrs.field(init=False)
    _snapshot: _Store | None = attrs.field(default=None, init=False)
    _after_commit: list[Callable[[], None]] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        self.sites = FakeSiteRepository(self.store)
        self.customers = FakeCustomerRepository(self.store)
        self.refresh_sessions = FakeRefreshSessionRepository(self.store)
        self.outbox = FakeOutboxRepository(self.store)
        self.purchases = FakePurchaseRepository(self.store)
        self.webhook_events = FakeWebhookEventRepository(self.store)
        self.anomalies = FakeAnomalyRepository(self.store)
        self.subscriptions = FakeSubscriptionRepository(self.store)
        self.notices = FakeNoticeRepository(self.store)

    def __enter__(self) -> Self:
        self._snapshot = copy.deepcopy(self.store)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._after_commit = []
        if self._snapshot is not None:
            self._restore(self._snapshot)
            self._snapshot = None

    def commit(self) -> None:
        # Like a connection in "commit as you go" mode: writes after a commit inside the
        # same block form a new transaction, rolled back unless committed again.
        if self._snapshot is not None:
            self._snapshot = copy.deepcopy(self.store)
        self.committed += 1
        callbacks, self._after_commit = self._after_commit, []
        run_after_commit(callbacks)

    def rollback(self) -> None:
        if self._snapshot is not None:
            self._restore(self._snapshot)
            self._snapshot = copy.deepcopy(self.store)
        self._after_commit = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def _restore(self, snapshot: _Store) -> None:
        for field in attrs.fields(_Store):
            setattr(self.store, field.name, getattr(snapshot, field.name))


@attrs.define
class FakeUnitOfWorkFactory:
    """Hands out units of work over one shared in-memory store."""

    store: _Store = attrs.field(factory=_Store)
    commits: int = 0

    def __call__(self) -> FakeUnitOfWork:
        return _CountingUnitOfWork(store=self.store, factory=self)


@attrs.define
class _CountingUnitOfWork(FakeUnitOfWork):
    factory: FakeUnitOfWorkFactory | None = None

    def commit(self) -> None:
        super().commit()
        if self.factory is not None:
            self.factory.commits += 1
