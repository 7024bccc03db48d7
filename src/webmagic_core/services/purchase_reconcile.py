"""Reconciliation: ask the provider about purchases and apply what it says.

A paid checkout is applied through the purchases' webhook handler, as its webhook would be
(so it is idempotent the same way); an unpaid one past its hold is expired; a checkout
still payable that holds nothing any more is closed at the provider.
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import logging
import uuid
from collections.abc import Sequence

import attrs

from webmagic_core.errors import (
    Conflict,
    TransientError,
)
from webmagic_core.payments.events import MalformedEvent, PaymentSucceeded
from webmagic_core.payments.gateway import (
    CheckoutInfo,
    CheckoutStatus,
    GatewayError,
    GatewayNotFound,
    PaymentGateway,
)
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.ports import Clock, UnitOfWorkFactory
from webmagic_core.services.purchase_config import (
    PurchaseConfig,
)
from webmagic_core.services.purchase_events import PurchaseEventHandler
from webmagic_core.services.webhooks import EventContext, run_after_commit
from webmagic_core.sites import Actor

log = logging.getLogger(__name__)

# A paid checkout in the provider's list that no purchase knows.
_NO_PURCHASE = uuid.UUID(int=0)


class ReconcileResult(enum.StrEnum):
    PAID = "paid"  # the provider says paid: applied (or found already applied)
    CLOSED = "closed"  # unpaid, no longer holding, but still payable: closed at the provider
    ANOMALY = "anomaly"  # paid, but it did not fit (recorded as an anomaly)
    EXPIRED = "expired"  # unpaid past its hold: marked expired
    PENDING = "pending"  # not paid yet, still within its hold (or payment in progress)
    ERROR = "error"  # the provider could not be asked, or the answer was unusable


@attrs.frozen
class ReconcileItem:
    purchase_id: uuid.UUID
    checkout_id: str | None
    result: ReconcileResult
    detail: str | None = None


@attrs.frozen
class ReconcileReport:
    items: tuple[ReconcileItem, ...] = ()

    def count(self, result: ReconcileResult) -> int:
        return sum(1 for item in self.items if item.result is result)


@attrs.define
class PurchaseReconciler:
    uow: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway
    handler: PurchaseEventHandler
    config: PurchaseConfig

    def reconcile(self, *, limit: int = 1000) -> ReconcileReport:
        """Ask the provider about every pending purchase and every one closed within
        ``config.lookback`` (up to ``limit`` each, oldest first): apply the paid ones
        through ``handle`` (as their webhook would), mark the unpaid ones past their hold
        expired, close checkouts still payable that hold nothing. Then read the provider's
        checkout list of that period for paid one-time checkouts nobody heard of (a lost
        webhook, a checkout whose id was never stored): each is applied or reported."""
        now = self.clock.now()
        since = now - self.config.lookback
        with self.uow() as uow:
            pending = list(uow.purchases.list(status=PurchaseStatus.PENDING, limit=limit))
            closed = [
                p
                for status in (PurchaseStatus.EXPIRED, PurchaseStatus.CANCELLED, PurchaseStatus.FAILED)
                for p in uow.purchases.list(status=status, limit=limit)
                if p.checkout_id is not None and (p.closed_at or p.created_at) >= since
            ]
        ordered = sorted(pending + closed, key=lambda p: p.created_at)
        items: builtins.list[ReconcileItem] = [self.reconcile_one(purchase) for purchase in ordered]
        seen = {p.checkout_id for p in ordered if p.checkout_id is not None}
        items.extend(self._reconcile_list(since, seen, limit))
        return ReconcileReport(tuple(items))

    def _reconcile_list(self, since: dt.datetime, seen: set[str], limit: int) -> Sequence[ReconcileItem]:
        try:
            listed = self.gateway.list_checkouts(since, limit=limit)
        except (GatewayError, TransientError) as error:
            log.warning("the provider's checkout list could not be read: %s", error.detail)
            return ()
        items: builtins.list[ReconcileItem] = []
        for info in listed:
            one_time = info.subscription_id is None and "subscription_id" not in info.metadata
            if info.status is not CheckoutStatus.PAID or not one_time or info.id in seen:
                continue
            with self.uow() as uow:
                known = uow.purchases.get_by_checkout(info.id)
            if known is not None and known.is_final:
                continue
            purchase_id = known.id if known is not None else None
            items.append(
                self.apply_paid(
                    info, ReconcileItem(purchase_id or _NO_PURCHASE, info.id, ReconcileResult.PENDING)
                )
            )
        return items

    def reconcile_one(self, purchase: Purchase) -> ReconcileItem:
        item = ReconcileItem(purchase.id, purchase.checkout_id, ReconcileResult.PENDING)
        if purchase.checkout_id is None:
            return self._expire_if_stale(item, "no checkout was created")
        try:
            info = self.gateway.get_checkout(purchase.checkout_id)
        except GatewayNotFound:
            return self._expire_if_stale(item, "the provider does not know the checkout", error=True)
        except (GatewayError, TransientError) as error:
            return attrs.evolve(item, result=ReconcileResult.ERROR, detail=error.detail)
        if info.status is CheckoutStatus.PAID:
            if purchase.is_final:
                return attrs.evolve(
                    item, result=ReconcileResult.PAID, detail=f"purchase already {purchase.status.value}"
                )
            return self.apply_paid(info, item)
        if info.status is CheckoutStatus.IN_PROGRESS:
            return attrs.evolve(item, detail="payment in progress")
        result = self._expire_if_stale(item, "not paid")
        return self._close_if_payable(purchase.id, info, result)

    def apply_paid(self, info: CheckoutInfo, item: ReconcileItem) -> ReconcileItem:
        try:
            event = PaymentSucceeded.from_checkout(info)
        except MalformedEvent as error:
            return attrs.evolve(item, result=ReconcileResult.ERROR, detail=error.detail)
        context = EventContext(
            reference=f"reconcile:{info.id}", actor=Actor.SYSTEM, now=self.clock.now(), webhook_event_id=None
        )
        try:
            with self.uow() as uow:
                handled = self.handler.handle(uow, event, context)
                uow.commit()
        except (Conflict, TransientError) as error:
            return attrs.evolve(item, result=ReconcileResult.ERROR, detail=f"{error.detail}; run again")
        run_after_commit(handled)
        if handled.purchase_id is not None:
            item = attrs.evolve(item, purchase_id=handled.purchase_id)
        if handled.outcome is WebhookOutcome.ANOMALY:
            return attrs.evolve(item, result=ReconcileResult.ANOMALY, detail=handled.note)
        return attrs.evolve(item, result=ReconcileResult.PAID, detail=handled.note)

    def _close_if_payable(
        self, purchase_id: uuid.UUID, info: CheckoutInfo, item: ReconcileItem
    ) -> ReconcileItem:
        """An unpaid checkout whose purchase holds nothing any more, that the provider would
        still take a payment for (a release whose closing call was lost): close it."""
        now = self.clock.now()
        if info.expires_at is not None and info.expires_at <= now:
            return item
        with self.uow() as uow:
            purchase = uow.purchases.get(purchase_id)
        if purchase is None or purchase.holds_site(now):
            return item
        try:
            self.gateway.expire_checkout(info.id, now)
        except GatewayNotFound:
            return item
        except (GatewayError, TransientError) as error:
            return attrs.evolve(item, result=ReconcileResult.ERROR, detail=error.detail)
        return attrs.evolve(item, result=ReconcileResult.CLOSED, detail="closed at the provider")

    def _expire_if_stale(self, item: ReconcileItem, why: str, *, error: bool = False) -> ReconcileItem:
        now = self.clock.now()
        with self.uow() as uow:
            purchase = uow.purchases.get(item.purchase_id, for_update=True)
            if purchase is not None and purchase.is_stale(now):
                purchase.mark_expired(now)
                uow.purchases.save(purchase)
                uow.commit()
                return attrs.evolve(item, result=ReconcileResult.EXPIRED, detail=why)
        if error:
            return attrs.evolve(item, result=ReconcileResult.ERROR, detail=why)
        return attrs.evolve(item, detail=why)
