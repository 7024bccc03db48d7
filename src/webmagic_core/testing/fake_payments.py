"""In-memory purchases, webhook events, anomalies, subscriptions and notices (see
``testing.fakes``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence

import attrs

from webmagic_core.errors import Conflict
from webmagic_core.payments.anomalies import Anomaly
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.subscriptions import Notice, Subscription, SubscriptionPayment, SubscriptionState
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome
from webmagic_core.testing.fake_store import _Store


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
