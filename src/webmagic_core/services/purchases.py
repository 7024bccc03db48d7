"""Buying a preview site: start a checkout, apply payment events, reconcile with the provider.

``start`` holds the site for one buyer: in one transaction it locks the site row, checks
nobody else holds it, and inserts a pending purchase; only then, outside any transaction
(a slow provider never holds a lock), it creates the checkout, and stores it in a second
transaction. The return URLs come from the configured public URL only, never from the
request (no open redirect).

``handle`` is the purchases' webhook handler (``WebhookService`` routes one-time payment
events here) and ``reconcile`` feeds it the same typed event built from the provider's
view of a checkout. It is idempotent by state: a purchase that is ``paid`` or
``refund_due`` is final, so a duplicate, replayed or reconciled payment changes nothing
(a second, distinct payment of a paid purchase is an anomaly: one of them is refunded).

Holds never leak: a hold ends only when the provider says its checkout was not paid (a
stale hold is asked about before another buyer gets the site), a declined card leaves the
checkout payable (and the site held) until it expires, and once a site is sold, archived or
released every other checkout still open for it is closed at the provider
(``PATCH expires_at=now``). One client address and one email may hold only a few sites at
once. Return pages name their purchase with a signed token (``return_token``).
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from urllib.parse import urlencode

import attrs

from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.ports import EmailRenderer
from webmagic_core.errors import (
    Conflict,
    NotFound,
    Throttled,
    TransientError,
    Unauthenticated,
    ValidationError,
)
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.payments.events import (
    SUBSCRIPTION_PAYMENTABLE,
    MalformedEvent,
    PaymentEvent,
    PaymentIntentFailed,
    PaymentIntentSucceeded,
)
from webmagic_core.payments.gateway import (
    CheckoutInfo,
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    PaymentGateway,
)
from webmagic_core.payments.purchases import DEFAULT_HOLD, Purchase, PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.ports import Clock, RateLimiter, UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.accounts import AccountService, Limit, validate_full_name, validate_phone
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.services.outbox import queue_email
from webmagic_core.services.sale_config import SaleConfig, positive_duration
from webmagic_core.services.webhooks import EventContext, Handled, run_after_commit
from webmagic_core.sites import Actor, Site
from webmagic_core.slugs import is_valid_slug

log = logging.getLogger(__name__)

# The purchase pages (thank-you, cancelled) live under this reserved prefix of the public URL.
PURCHASE_PAGES = "/purchase"
SITE_HELD = "someone else is buying this site right now; try again in {minutes} minute(s)"
NOT_FOR_SALE = "this site is not for sale any more"
# A paid checkout in the provider's list that no purchase knows.
_NO_PURCHASE = uuid.UUID(int=0)


@attrs.frozen
class PurchaseLimits:
    """How often one address, and one client (IP), may start a purchase, and how many
    sites each may hold at once."""

    per_email: Limit = attrs.field(factory=lambda: Limit(5, dt.timedelta(hours=1)))
    per_client: Limit = attrs.field(factory=lambda: Limit(20, dt.timedelta(hours=1)))
    holds_per_email: int = 2
    holds_per_client: int = 3


TOO_MANY_HOLDS = "you are already buying {count} site(s); finish or leave those checkouts first"
RECONCILE_LOOKBACK = dt.timedelta(days=3)


@attrs.frozen
class PurchaseConfig(SaleConfig):
    hold: dt.timedelta = attrs.field(default=DEFAULT_HOLD, validator=positive_duration)
    limits: PurchaseLimits = PurchaseLimits()
    # Signs the return pages' links (derived from the secret key by the composition root).
    return_key: bytes = attrs.field(factory=lambda: secrets.token_bytes(32), repr=False)
    # How far back reconciliation looks at closed holds and the provider's checkout list.
    lookback: dt.timedelta = attrs.field(default=RECONCILE_LOOKBACK, validator=positive_duration)

    def return_token(self, purchase_id: uuid.UUID) -> str:
        """A token only the checkout's return URLs carry: they alone show or change it."""
        digest = hmac.new(self.return_key, f"purchase-return:{purchase_id}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def valid_return_token(self, purchase_id: uuid.UUID, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.return_token(purchase_id), token)

    def _query(self, purchase_id: uuid.UUID) -> str:
        return urlencode({"purchase": str(purchase_id), "token": self.return_token(purchase_id)})

    def thanks_url(self, slug: str, purchase_id: uuid.UUID) -> str:
        return f"{self.public_url}{PURCHASE_PAGES}/{slug}/thanks?{self._query(purchase_id)}"

    def cancel_url(self, slug: str, purchase_id: uuid.UUID) -> str:
        return f"{self.public_url}{PURCHASE_PAGES}/{slug}/cancelled?{self._query(purchase_id)}"


@attrs.frozen
class CheckoutStarted:
    purchase_id: uuid.UUID
    checkout_id: str
    checkout_url: str
    expires_at: dt.datetime


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


def _digest(value: str) -> str:
    # Addresses are hashed so a shared store (Redis, the database) holds no personal data.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _key(kind: str, value: str) -> str:
    return f"webmagic:purchase-{kind}:{_digest(value)}"


@attrs.define
class PurchaseService:
    uow: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway
    accounts: AccountService
    renderer: EmailRenderer
    rate_limiter: RateLimiter
    anomalies: AnomalyReporter
    config: PurchaseConfig
    # Defaults to the accounts' normaliser: the address the purchase stores is the one
    # the account is found or created with when it is paid.
    normalize_email: Callable[[str], str] | None = None

    # --- starting a purchase --------------------------------------------------------------

    def start(
        self,
        slug: str,
        email: str | None = None,
        full_name: str | None = None,
        phone: str | None = None,
        *,
        customer_id: uuid.UUID | None = None,
        client: str | None = None,
    ) -> CheckoutStarted:
        """Hold the site for this buyer and open a checkout for it.

        A signed-in buyer passes ``customer_id`` (their account's address is used; the
        site goes to that account). ``NotFound`` for an unknown or archived slug,
        ``Conflict`` when the site is sold or held by another buyer (the same buyer gets
        their open checkout back), ``Throttled`` past the limits, and when the provider
        fails the purchase is marked failed and the gateway error is raised
        (``GatewayUnavailable`` is transient: 503; ``GatewayError``: 502)."""
        full_name, phone = validate_full_name(full_name), validate_phone(phone)
        if customer_id is not None:
            customer = self._signed_in(customer_id)
            email = customer.email
            full_name, phone = full_name or customer.full_name, phone or customer.phone
        elif email is None:
            raise ValidationError("an email address is needed to buy a site", field="email")
        else:
            email = self._normalize(email)
        if not is_valid_slug(slug):
            raise NotFound(f"no site has the slug {slug!r}")
        self._throttle(email, client)
        client_key = _digest(client) if client is not None else None
        verified = self._settle_stale_holds(slug)

        now = self.clock.now()
        with self.uow() as uow:
            site = uow.sites.get_by_slug(slug, for_update=True)
            if site is None or site.status is SiteStatus.ARCHIVED:
                raise NotFound(f"no site has the slug {slug!r}")
            if site.status is not SiteStatus.PREVIEW:
                raise Conflict(NOT_FOR_SALE)
            holder = self._holder(uow, site, now, verified)
            if holder is not None:
                uow.commit()  # keep the stale purchases marked expired
                if self._same_buyer(holder, email, customer_id, client_key):
                    if holder.checkout_id is None:
                        raise Conflict("your checkout is still being created; try again in a moment")
                    # The same buyer again (a closed tab, a double click): same checkout.
                    return self._started(holder)
                minutes = max(1, -(-int((holder.expires_at - now).total_seconds()) // 60))
                raise Conflict(SITE_HELD.format(minutes=minutes))
            self._check_holds(uow, email, client_key, now)
            purchase = Purchase.new(
                site_id=site.id,
                amount=self.config.price,
                buyer_email=email,
                buyer_name=full_name,
                buyer_phone=phone,
                customer_id=customer_id,
                now=now,
                hold=self.config.hold,
                client_key=client_key,
            )
            uow.purchases.add(purchase)
            uow.commit()

        request = CheckoutRequest(
            kind=CheckoutKind.ONE_TIME,
            item_name=site.business_name,
            amount=purchase.amount,
            success_url=self.config.thanks_url(site.slug, purchase.id),
            cancel_url=self.config.cancel_url(site.slug, purchase.id),
            metadata={"purchase_id": str(purchase.id), "site_slug": site.slug, "site_id": str(site.id)},
            expires_at=purchase.expires_at,
            description=f"The website of {site.business_name} ({self.config.site_url(site.slug)})",
        )
        try:
            checkout = self.gateway.create_checkout(request)
        except Exception as error:
            self._abandon(purchase.id, error)
            raise

        with self.uow() as uow:
            current = uow.purchases.get(purchase.id, for_update=True)
            if current is None:  # pragma: no cover - purchases are never deleted
                raise NotFound(f"purchase {purchase.id} vanished")
            current.attach_checkout(checkout.id, checkout.url, self.clock.now())
            uow.purchases.save(current)
            uow.commit()
        return self._started(current)

    def cancel(self, purchase_id: uuid.UUID, *, reason: str = "cancelled at the checkout") -> Purchase:
        """Release the site held by a pending purchase (the cancelled page, an operator):
        its checkout is closed at the provider first, so nobody can pay it afterwards. A
        checkout found paid meanwhile is applied instead (as its webhook would be); when
        the provider cannot be reached nothing changes (``TransientError``). Any other
        purchase is returned unchanged."""
        purchase = self.get(purchase_id)
        if purchase.status is not PurchaseStatus.PENDING:
            return purchase
        if purchase.checkout_id is not None:
            try:
                self.gateway.expire_checkout(purchase.checkout_id, self.clock.now())
            except GatewayNotFound:
                pass  # never created at the provider: nothing to close
            except GatewayError:
                # Refused: paid (or being paid). Apply what the provider says instead.
                self._reconcile(purchase)
                return self.get(purchase_id)
        with self.uow() as uow:
            current = uow.purchases.get(purchase_id, for_update=True)
            if current is None:  # pragma: no cover - purchases are never deleted
                raise NotFound(f"no purchase has the id {purchase_id}")
            if current.status is PurchaseStatus.PENDING:
                current.mark_cancelled(self.clock.now(), reason)
                uow.purchases.save(current)
                uow.commit()
        return current

    def held_until(self, site_id: uuid.UUID) -> dt.datetime | None:
        """Until when a buyer holds the site (None: nobody does): site info says so."""
        now = self.clock.now()
        with self.uow() as uow:
            holds = [p.expires_at for p in uow.purchases.for_site(site_id) if p.holds_site(now)]
        return max(holds, default=None)

    def get(self, purchase_id: uuid.UUID) -> Purchase:
        with self.uow() as uow:
            purchase = uow.purchases.get(purchase_id)
        if purchase is None:
            raise NotFound(f"no purchase has the id {purchase_id}")
        return purchase

    def list(self, *, status: PurchaseStatus | None = None, limit: int = 100) -> Sequence[Purchase]:
        """Newest first."""
        with self.uow() as uow:
            return uow.purchases.list(status=status, limit=limit)

    # --- payment events (the webhook handler) ---------------------------------------------

    def prefetch(self, event: PaymentEvent) -> None:
        """Nothing to read: a purchase's payment event carries what applying it needs."""

    def handle(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        match event:
            case PaymentIntentSucceeded():
                return self._succeeded(uow, event, context)
            case PaymentIntentFailed():
                return self._failed(uow, event)
            case _:
                return Handled(WebhookOutcome.IGNORED, note=f"purchases do not act on {event.event_type}")

    def _succeeded(self, uow: UnitOfWork, event: PaymentIntentSucceeded, context: EventContext) -> Handled:
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
        purchase.mark_paid(now, payment_id=event.payment_id, customer_id=customer.id)
        uow.purchases.save(purchase)

        site_url = self.config.site_url(site.slug)
        hosting_ends = self.config.included_hosting_end(now)
        queue_email(
            uow,
            self.renderer,
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
                self.renderer,
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
        log.info("site %s sold: purchase %s paid (%s)", site.slug, purchase.id, context.reference)
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
        event: PaymentIntentSucceeded,
        purchase: Purchase,
        site: Site | None,
        context: EventContext,
    ) -> Handled:
        """A payment other than the one already applied, for the same purchase: the buyer
        paid twice (two tabs, a retried checkout). One of them must be refunded."""
        reason = f"a second payment {event.payment_id} of {event.amount}; {purchase.payment_id} was applied"
        anomaly = Anomaly.new(
            AnomalyKind.DUPLICATE_PAYMENT,
            f"{AnomalyKind.DUPLICATE_PAYMENT.value}:{event.payment_id}",
            f"purchase {purchase.id} was paid twice: {reason}",
            f"Buyer {purchase.buyer_email}, checkout {event.checkout_id}.\n"
            f"Refund payment {event.payment_id} (POST /refunds with that payment id): "
            f"the purchase is {purchase.status.value} with payment {purchase.payment_id}. "
            "Then resolve this anomaly.",
            context.now,
            site_id=purchase.site_id,
            purchase_id=purchase.id,
            webhook_event_id=context.webhook_event_id,
        )
        self.anomalies.report(
            uow, anomaly, context.now, site_slug=site.slug if site else None, reference=context.reference
        )
        return self._handled(WebhookOutcome.ANOMALY, purchase, f"refund due: {reason}")

    def _failed(self, uow: UnitOfWork, event: PaymentIntentFailed) -> Handled:
        purchase, _ = self._find(uow, event, lock_site=False)
        if purchase is None:
            # No money moved: nothing to put right, but the stored event says why.
            what = event.checkout_id or event.metadata.get("purchase_id") or event.paymentable_id
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
        self, uow: UnitOfWork, event: PaymentIntentSucceeded | PaymentIntentFailed, *, lock_site: bool
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
        site = self._locked_site(uow, found.site_id) if lock_site else None
        purchase = uow.purchases.get(found.id, for_update=True)
        if purchase is None:  # pragma: no cover - purchases are never deleted
            return None, None
        if purchase.checkout_id is None:
            purchase.checkout_id = event.checkout_id
        return purchase, site

    @staticmethod
    def _locked_site(uow: UnitOfWork, site_id: uuid.UUID) -> Site | None:
        site = uow.sites.get(site_id)
        # Lock the row: two payments for one site are applied one after the other.
        return uow.sites.get_by_slug(site.slug, for_update=True) if site is not None else None

    def _buyer(
        self, uow: UnitOfWork, purchase: Purchase, event: PaymentIntentSucceeded, now: dt.datetime
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
        event: PaymentIntentSucceeded,
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
                self.renderer,
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

    def _unknown_checkout(
        self, uow: UnitOfWork, event: PaymentIntentSucceeded, context: EventContext
    ) -> Handled:
        what = event.checkout_id or event.metadata.get("purchase_id") or event.paymentable_id or "?"
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
    ) -> None:
        anomaly = Anomaly.new(
            kind,
            f"{kind.value}:{purchase.id}",
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

    # --- reconciliation -------------------------------------------------------------------

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
        items: builtins.list[ReconcileItem] = [self._reconcile(purchase) for purchase in ordered]
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
            one_time = (
                info.paymentable_type != SUBSCRIPTION_PAYMENTABLE and "subscription_id" not in info.metadata
            )
            if info.status is not CheckoutStatus.PAID or not one_time or info.id in seen:
                continue
            with self.uow() as uow:
                known = uow.purchases.get_by_checkout(info.id)
            if known is not None and known.is_final:
                continue
            purchase_id = known.id if known is not None else None
            items.append(
                self._apply_paid(
                    info, ReconcileItem(purchase_id or _NO_PURCHASE, info.id, ReconcileResult.PENDING)
                )
            )
        return items

    def _reconcile(self, purchase: Purchase) -> ReconcileItem:
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
            return self._apply_paid(info, item)
        if info.status is CheckoutStatus.IN_PROGRESS:
            return attrs.evolve(item, detail="payment in progress")
        result = self._expire_if_stale(item, "not paid")
        return self._close_if_payable(purchase.id, info, result)

    def _apply_paid(self, info: CheckoutInfo, item: ReconcileItem) -> ReconcileItem:
        try:
            event = PaymentIntentSucceeded.from_checkout(info)
        except MalformedEvent as error:
            return attrs.evolve(item, result=ReconcileResult.ERROR, detail=error.detail)
        context = EventContext(
            reference=f"reconcile:{info.id}", actor=Actor.SYSTEM, now=self.clock.now(), webhook_event_id=None
        )
        try:
            with self.uow() as uow:
                handled = self.handle(uow, event, context)
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

    # --- helpers --------------------------------------------------------------------------

    def _normalize(self, email: str) -> str:
        normalize = self.normalize_email or self.accounts.normalize_email
        return normalize(email)

    def _signed_in(self, customer_id: uuid.UUID) -> Customer:
        with self.uow() as uow:
            customer = uow.customers.get(customer_id)
        if customer is None:
            raise Unauthenticated("the account no longer exists; sign in again")
        return customer

    def _throttle(self, email: str, client: str | None) -> None:
        limits = self.config.limits
        checks = [(_key("email", email), limits.per_email)]
        if client is not None:
            checks.append((_key("client", client), limits.per_client))
        waits = [
            wait
            for key, limit in checks
            if (wait := self.rate_limiter.peek(key, limit=limit.count, window=limit.window)) is not None
        ]
        if waits:
            raise Throttled("too many purchase attempts; try again later", retry_after=max(waits))
        for key, limit in checks:
            self.rate_limiter.hit(key, limit=limit.count, window=limit.window)

    def _settle_stale_holds(self, slug: str) -> frozenset[uuid.UUID]:
        """Before a stale hold is given up, ask the provider about its checkout (outside
        any transaction): paid, it is applied (the site is sold); being paid, it still
        holds. Returns the stale purchases found unpaid, which ``_holder`` may expire.
        ``TransientError`` when the provider cannot say: nothing may be sold on a guess."""
        now = self.clock.now()
        with self.uow() as uow:
            site = uow.sites.get_by_slug(slug)
            stale = [p for p in uow.purchases.for_site(site.id) if p.is_stale(now)] if site else []
        unpaid: set[uuid.UUID] = set()
        for purchase in stale:
            if purchase.checkout_id is None:
                unpaid.add(purchase.id)
                continue
            try:
                info = self.gateway.get_checkout(purchase.checkout_id)
            except GatewayNotFound:
                unpaid.add(purchase.id)
                continue
            except GatewayError as refusal:
                raise GatewayUnavailable(f"the provider could not say: {refusal.detail}") from None
            if info.status is CheckoutStatus.UNPAID:
                unpaid.add(purchase.id)
            elif info.status is CheckoutStatus.PAID:
                item = self._apply_paid(info, ReconcileItem(purchase.id, info.id, ReconcileResult.PENDING))
                if item.result is ReconcileResult.ERROR:
                    raise TransientError(f"a payment is being applied; try again ({item.detail})")
        return frozenset(unpaid)

    @staticmethod
    def _holder(
        uow: UnitOfWork, site: Site, now: dt.datetime, unpaid: frozenset[uuid.UUID]
    ) -> Purchase | None:
        """The purchase holding ``site`` now, if any. A stale pending one the provider
        said was unpaid is marked expired; one it was not asked about (it went stale a
        moment ago) still holds until the next attempt asks."""
        holder = None
        for purchase in uow.purchases.for_site(site.id):
            if purchase.is_stale(now) and purchase.id in unpaid:
                purchase.mark_expired(now)
                uow.purchases.save(purchase)
            elif purchase.holds_site(now) or purchase.is_stale(now):
                holder = purchase
        return holder

    @staticmethod
    def _same_buyer(
        holder: Purchase, email: str, customer_id: uuid.UUID | None, client_key: str | None
    ) -> bool:
        """Whether the holder's checkout may be handed back: knowing the email is not
        enough (anyone may know it); the signed-in account, or the same email from the
        same client, is."""
        if holder.buyer_email != email:
            return False
        if customer_id is not None:
            return holder.customer_id == customer_id
        return holder.client_key is not None and holder.client_key == client_key

    def _check_holds(self, uow: UnitOfWork, email: str, client_key: str | None, now: dt.datetime) -> None:
        """``Throttled`` when this email, or this client, already holds as many sites as
        allowed (until the earliest of those holds ends)."""
        limits = self.config.limits
        holding = [
            p for p in uow.purchases.list(status=PurchaseStatus.PENDING, limit=10_000) if p.holds_site(now)
        ]
        for mine, allowed in (
            ([p for p in holding if p.buyer_email == email], limits.holds_per_email),
            (
                [p for p in holding if client_key is not None and p.client_key == client_key],
                limits.holds_per_client,
            ),
        ):
            if len(mine) >= allowed:
                ends = min(p.expires_at for p in mine)
                wait = max(1, int((ends - now).total_seconds()) + 1)
                raise Throttled(TOO_MANY_HOLDS.format(count=len(mine)), retry_after=wait)

    def _abandon(self, purchase_id: uuid.UUID, error: Exception) -> None:
        """The checkout could not be created: fail the purchase, so the site is free again."""
        detail = error.detail if isinstance(error, GatewayError | TransientError) else type(error).__name__
        try:
            with self.uow() as uow:
                purchase = uow.purchases.get(purchase_id, for_update=True)
                if purchase is not None and purchase.status is PurchaseStatus.PENDING:
                    purchase.mark_failed(self.clock.now(), f"the checkout could not be created: {detail}")
                    uow.purchases.save(purchase)
                    uow.commit()
        except Exception:
            # The original error is the one to report; the hold lapses by itself.
            log.exception("could not mark purchase %s failed", purchase_id)

    @staticmethod
    def _started(purchase: Purchase) -> CheckoutStarted:
        if purchase.checkout_id is None or purchase.checkout_url is None:
            raise Conflict("your checkout is still being created; try again in a moment")
        return CheckoutStarted(
            purchase_id=purchase.id,
            checkout_id=purchase.checkout_id,
            checkout_url=purchase.checkout_url,
            expires_at=purchase.expires_at,
        )
