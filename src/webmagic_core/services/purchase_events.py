"""The purchases' webhook handler: apply a one-time payment (or its failure) to its purchase.

Idempotent by state: a purchase that is ``paid`` or ``refund_due`` is final, so a
duplicate, replayed or reconciled payment changes nothing (a second, distinct payment of a
paid purchase is an anomaly: one of them is refunded). Once a site is sold every other
checkout still open for it is closed at the provider after commit (``release_others``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable

import attrs

from webmagic_core import events
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.payments.events import PaymentEvent, PaymentFailed, PaymentSucceeded
from webmagic_core.payments.gateway import (
    GatewayNotFound,
    PaymentGateway,
)
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.ports import Clock, UnitOfWork
from webmagic_core.services.accounts import AccountService
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.services.outbox import queue_email
from webmagic_core.services.publishing import request_publish
from webmagic_core.services.purchase_config import PurchaseConfig
from webmagic_core.services.webhooks import EventContext, Handled
from webmagic_core.sites import Site

log = logging.getLogger(__name__)


@attrs.define
class PurchaseEventHandler:
    """``EventHandler`` for one-time payments (``PurchaseService`` hands events to it)."""

    gateway: PaymentGateway
    clock: Clock
    accounts: AccountService
    anomalies: AnomalyReporter
    config: PurchaseConfig

    def prefetch(self, event: PaymentEvent) -> None:
        """Nothing to read: a purchase's payment event carries what applying it needs."""

    def handle(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        match event:
            case PaymentSucceeded():
                return self._succeeded(uow, event, context)
            case PaymentFailed():
                return self._failed(uow, event)
            case _:
                return Handled(WebhookOutcome.IGNORED, note=f"purchases do not act on {event.label}")

    def _succeeded(self, uow: UnitOfWork, event: PaymentSucceeded, context: EventContext) -> Handled:
        now = context.now
        purchase, site = self._find(uow, event, lock_site=True)
        if purchase is None:
            return self._unknown_checkout(uow, event, context)
        if purchase.is_final:
            if event.payment_id is not None and purchase.payment_id not in (None, event.payment_id):
                return self._second_payment(uow, event, purchase, site, context)
            return self._handled(
                WebhookOutcome.PROCESSED, purchase, f"purchase already {purchase.status.value}"
            )
        reference = event.payment_id or str(purchase.id)

        if event.amount != purchase.amount:
            reason = f"paid {event.amount}, but the purchase is for {purchase.amount}"
            purchase.mark_refund_due(now, payment_id=event.payment_id, reason=reason)
            uow.purchases.save(purchase)
            self._report(
                uow,
                AnomalyKind.AMOUNT_MISMATCH,
                purchase,
                site,
                context,
                f"amount mismatch on purchase {purchase.id}: {reason}",
                f"Checkout {event.checkout_id}, payment {event.payment_id or 'unknown'}.\n"
                f"The site was not handed over. Refund the payment (or settle it by hand) "
                f"and resolve this anomaly.",
            )
            return self._handled(WebhookOutcome.ANOMALY, purchase, reason)

        if site is None or site.status is not SiteStatus.PREVIEW:
            return self._cannot_hand_over(uow, event, purchase, site, context)

        customer, welcome = self._buyer(uow, purchase, event, now)
        site.sell(
            customer.id,
            cause=f"purchase {purchase.id} paid",
            actor=context.actor,
            at=now,
            reference=context.reference,
        )
        uow.sites.save(site)
        request_publish(uow, site.id, now)
        purchase.mark_paid(now, payment_id=event.payment_id, customer_id=customer.id)
        uow.purchases.save(purchase)

        site_url = self.config.site_url(site.slug)
        hosting_ends = self.config.included_hosting_end(now)
        queue_email(
            uow,
            EmailTemplate.PURCHASE_CONFIRMATION,
            customer.email,
            {
                "business_name": site.business_name,
                "site_url": site_url,
                "amount": purchase.amount,
                "reference": reference,
                "full_name": customer.full_name,
                "hosting_until": hosting_ends.date() if hosting_ends is not None else None,
            },
            now,
            site_id=site.id,
        )
        if welcome:
            queue_email(
                uow,
                EmailTemplate.WELCOME_SET_PASSWORD,
                customer.email,
                {
                    "set_password_url": self.accounts.set_password_link(customer),
                    "business_name": site.business_name,
                    "site_url": site_url,
                    "full_name": customer.full_name,
                },
                now,
                site_id=site.id,
            )
        uow.after_commit(
            functools.partial(
                events.emit,
                "purchase.paid",
                f"site {site.slug} sold: purchase {purchase.id} paid ({context.reference})",
                purchase_id=purchase.id,
                site_id=site.id,
                slug=site.slug,
                customer_id=purchase.customer_id,
                payment_id=purchase.payment_id,
                reference=context.reference,
            )
        )
        closing = self.release_others(
            uow, site.id, now, "the site was sold to another buyer", keep=purchase.id
        )
        return attrs.evolve(self._handled(WebhookOutcome.PROCESSED, purchase), after_commit=closing)

    def release_others(
        self,
        uow: UnitOfWork,
        site_id: uuid.UUID,
        now: dt.datetime,
        reason: str,
        *,
        keep: uuid.UUID | None = None,
    ) -> tuple[Callable[[], None], ...]:
        """Cancel every pending purchase of ``site_id`` but ``keep`` (inside ``uow``), and
        return the calls that close, after commit, every checkout of the site a buyer
        could still pay (nobody may pay for a site sold or archived)."""
        closing: list[str] = []
        for other in uow.purchases.for_site(site_id):
            if other.id == keep or other.is_final:
                continue
            if other.status is PurchaseStatus.PENDING:
                other.mark_cancelled(now, reason)
                uow.purchases.save(other)
            if other.checkout_id is not None and other.expires_at > now:
                closing.append(other.checkout_id)
        return tuple(self.closer(checkout_id) for checkout_id in closing)

    def closer(self, checkout_id: str) -> Callable[[], None]:
        """A call that closes ``checkout_id`` at the provider now (to run after commit)."""

        def close() -> None:
            try:
                self.gateway.expire_checkout(checkout_id, self.clock.now())
            except GatewayNotFound:
                return
            log.info("checkout %s closed at the provider", checkout_id)

        return close

    def _second_payment(
        self,
        uow: UnitOfWork,
        event: PaymentSucceeded,
        purchase: Purchase,
        site: Site | None,
        context: EventContext,
    ) -> Handled:
        """A payment other than the one already applied, for the same purchase: the buyer
        paid twice (two tabs, a retried checkout). One of them must be refunded."""
        reason = f"a second payment {event.payment_id} of {event.amount}; {purchase.payment_id} was applied"
        self._report(
            uow,
            AnomalyKind.DUPLICATE_PAYMENT,
            purchase,
            site,
            context,
            f"purchase {purchase.id} was paid twice: {reason}",
            f"Buyer {purchase.buyer_email}, checkout {event.checkout_id}.\n"
            f"Refund payment {event.payment_id} (POST /refunds with that payment id): "
            f"the purchase is {purchase.status.value} with payment {purchase.payment_id}. "
            "Then resolve this anomaly.",
            about=event.payment_id,  # one anomaly per extra payment, not per purchase
        )
        return self._handled(WebhookOutcome.ANOMALY, purchase, f"refund due: {reason}")

    def _failed(self, uow: UnitOfWork, event: PaymentFailed) -> Handled:
        purchase, _ = self._find(uow, event, lock_site=False)
        if purchase is None:
            # No money moved: nothing to put right, but the stored event says why.
            what = event.checkout_id or event.metadata.get("purchase_id") or "?"
            return Handled(WebhookOutcome.IGNORED, note=f"no purchase matches checkout {what}")
        if purchase.status is not PurchaseStatus.PENDING:
            return self._handled(
                WebhookOutcome.PROCESSED, purchase, f"purchase already {purchase.status.value}"
            )
        # The same hosted checkout takes another card until it expires: the hold stays.
        purchase.note_decline(event.failure_reason or "the payment failed")
        uow.purchases.save(purchase)
        return self._handled(
            WebhookOutcome.PROCESSED,
            purchase,
            f"declined; the checkout stays payable until {purchase.expires_at.isoformat()}",
        )

    @staticmethod
    def _handled(outcome: WebhookOutcome, purchase: Purchase, note: str | None = None) -> Handled:
        return Handled(outcome, note=note, site_id=purchase.site_id, purchase_id=purchase.id)

    def _find(
        self, uow: UnitOfWork, event: PaymentSucceeded | PaymentFailed, *, lock_site: bool
    ) -> tuple[Purchase | None, Site | None]:
        """The purchase paid for, by checkout id; else by the purchase id in the metadata if
        that purchase has no other checkout (its checkout id is then recorded: the second
        transaction of ``start`` may have been lost). Locks the site row (``lock_site``),
        then the purchase row: the order ``start`` takes them in, so neither waits on the
        other in a circle."""
        found = uow.purchases.get_by_checkout(event.checkout_id) if event.checkout_id is not None else None
        if found is None and event.purchase_id is not None:
            candidate = uow.purchases.get(event.purchase_id)
            if candidate is not None and (
                candidate.checkout_id is None
                or event.checkout_id is None
                or candidate.checkout_id == event.checkout_id
            ):
                found = candidate
        if found is None:
            return None, None
        # Lock the row: two payments for one site are applied one after the other.
        site = uow.sites.get(found.site_id, for_update=True) if lock_site else None
        purchase = uow.purchases.get(found.id, for_update=True)
        if purchase is None:  # pragma: no cover - purchases are never deleted
            return None, None
        if purchase.checkout_id is None:
            purchase.checkout_id = event.checkout_id
        return purchase, site

    def _buyer(
        self, uow: UnitOfWork, purchase: Purchase, event: PaymentSucceeded, now: dt.datetime
    ) -> tuple[Customer, bool]:
        """The account the site goes to, and whether it gets a welcome (set-password) mail."""
        customer: Customer | None = None
        if purchase.customer_id is not None:
            customer = uow.customers.get(purchase.customer_id, for_update=True)
        if customer is None:
            customer, _ = self.accounts.find_or_create_for_purchase(
                uow,
                purchase.buyer_email,
                purchase.buyer_name or event.customer_name,
                purchase.buyer_phone,
                now,
            )
        return customer, customer.password_hash is None

    def _cannot_hand_over(
        self,
        uow: UnitOfWork,
        event: PaymentSucceeded,
        purchase: Purchase,
        site: Site | None,
        context: EventContext,
    ) -> Handled:
        """Paid for a site that is no longer a preview: refund due, operators told, and
        (double sale) the buyer told a refund is coming."""
        now = context.now
        sold = site is not None and (
            site.owner_id is not None
            or any(
                p.status is PurchaseStatus.PAID and p.id != purchase.id
                for p in uow.purchases.for_site(site.id)
            )
        )
        status = site.status.value if site is not None else "gone"
        reason = "the site was sold to another buyer" if sold else f"the site is {status}"
        purchase.mark_refund_due(now, payment_id=event.payment_id, reason=reason)
        uow.purchases.save(purchase)
        kind = AnomalyKind.DOUBLE_SALE if sold else AnomalyKind.SITE_UNAVAILABLE
        self._report(
            uow,
            kind,
            purchase,
            site,
            context,
            f"{kind.value.replace('_', ' ')}: purchase {purchase.id} paid {event.amount} but {reason}",
            f"Buyer {purchase.buyer_email}, checkout {event.checkout_id}, "
            f"payment {event.payment_id or 'unknown'}.\n"
            + (
                "The buyer has been told that a refund is coming: refund the payment "
                "(POST /refunds with the payment id) and resolve this anomaly."
                if sold
                else "The buyer has not been told anything yet: refund or settle by hand."
            ),
        )
        if sold and site is not None:
            queue_email(
                uow,
                EmailTemplate.DOUBLE_SALE_REFUND,
                purchase.buyer_email,
                {
                    "business_name": site.business_name,
                    "amount": event.amount,
                    "reference": event.payment_id or str(purchase.id),
                    "full_name": purchase.buyer_name,
                },
                now,
                site_id=site.id,
            )
        return self._handled(WebhookOutcome.ANOMALY, purchase, reason)

    def _unknown_checkout(self, uow: UnitOfWork, event: PaymentSucceeded, context: EventContext) -> Handled:
        what = event.checkout_id or event.metadata.get("purchase_id") or "?"
        summary = f"payment {event.payment_id or ''} of {event.amount} for unknown checkout {what}"
        details = (
            f"No purchase matches checkout {event.checkout_id}"
            f" (metadata: {dict(event.metadata)}).\n"
            f"Payer: {event.customer_email or 'unknown'}. Find out what was paid for, then "
            f"refund or settle it by hand and resolve this anomaly."
        )
        self.anomalies.report(
            uow,
            Anomaly.new(
                AnomalyKind.UNKNOWN_CHECKOUT,
                f"unknown_checkout:{what}",
                summary,
                details,
                context.now,
                webhook_event_id=context.webhook_event_id,
            ),
            context.now,
            reference=context.reference,
        )
        return Handled(WebhookOutcome.ANOMALY, note=f"no purchase matches checkout {what}")

    def _report(
        self,
        uow: UnitOfWork,
        kind: AnomalyKind,
        purchase: Purchase,
        site: Site | None,
        context: EventContext,
        summary: str,
        details: str,
        *,
        about: str | None = None,
    ) -> None:
        """Report ``kind`` once per purchase (or once per ``about``, when given)."""
        anomaly = Anomaly.new(
            kind,
            f"{kind.value}:{about or purchase.id}",
            summary,
            details,
            context.now,
            site_id=purchase.site_id,
            purchase_id=purchase.id,
            webhook_event_id=context.webhook_event_id,
        )
        self.anomalies.report(
            uow, anomaly, context.now, site_slug=site.slug if site else None, reference=context.reference
        )
