"""In-memory implementations of the ports, with the same transaction semantics.

The fake unit of work snapshots the store on entry and restores it unless ``commit()``
is called, so a service that forgets to commit loses its writes here as it would on a
real database.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import threading
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Self

import attrs

from webmagic_core.commit_hooks import run_after_commit
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.subscriptions import Subscription, SubscriptionState
from webmagic_core.ports import Clock, SalesFigures, SubscriptionFigures
from webmagic_core.ratelimit import check_limit
from webmagic_core.testing.fake_accounts import (
    FakeCustomerRepository,
    FakeOutboxRepository,
    FakeRefreshSessionRepository,
)
from webmagic_core.testing.fake_payments import (
    FakeAnomalyRepository,
    FakeNoticeRepository,
    FakePurchaseRepository,
    FakeSubscriptionRepository,
    FakeWebhookEventRepository,
)
from webmagic_core.testing.fake_sites import FakePublishQueue, FakeSiteRepository
from webmagic_core.testing.fake_store import _Store

__all__ = [
    "FakeAnomalyRepository",
    "FakeClock",
    "FakeCustomerRepository",
    "FakeNoticeRepository",
    "FakeOutboxRepository",
    "FakePublishQueue",
    "FakePurchaseRepository",
    "FakeRateLimiter",
    "FakeRefreshSessionRepository",
    "FakeSiteRepository",
    "FakeStatsQuery",
    "FakeSubscriptionRepository",
    "FakeUnitOfWork",
    "FakeUnitOfWorkFactory",
    "FakeWebhookEventRepository",
    "_Store",
]


@attrs.define
class FakeClock:
    current: dt.datetime = attrs.field(factory=lambda: dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC))

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self.current += delta
        return self.current


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
class FakeRateLimiter:
    """A sliding-window log on a ``FakeClock`` (it passes the ``RateLimiter`` contract suite),
    also recording every counted or refused ``hit`` as ``(key, allowed)`` and every ``reset``."""

    clock: Clock
    hits: list[tuple[str, bool]] = attrs.field(factory=list)
    resets: list[str] = attrs.field(factory=list)
    _events: dict[str, list[dt.datetime]] = attrs.field(factory=dict, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def hit(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        wait = self._answer(key, limit, window, count=True)
        self.hits.append((key, wait is None))
        return wait

    def peek(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        return self._answer(key, limit, window, count=False)

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)
        self.resets.append(key)

    def _answer(self, key: str, limit: int, window: dt.timedelta, *, count: bool) -> int | None:
        check_limit(limit, window)
        now = self.clock.now()
        with self._lock:
            # Newest first, at most ``limit`` kept (as the adapters keep them).
            inside = [t for t in self._events.get(key, [])[:limit] if t + window > now]
            if len(inside) < limit:
                if count:
                    self._events[key] = [now, *self._events.get(key, [])][:limit]
                return None
            seconds = min((inside[-1] + window - now).total_seconds(), window.total_seconds())
            return max(1, math.ceil(seconds))


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
    publish_queue: FakePublishQueue = attrs.field(init=False)
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
        self.publish_queue = FakePublishQueue(self.store)

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
