"""Buying a preview site: start a checkout, apply payment events, reconcile with the provider.

``start`` holds the site for one buyer: in one transaction it locks the site row, checks
nobody else holds it, and inserts a pending purchase; only then, outside any transaction
(a slow provider never holds a lock), it creates the checkout, and stores it in a second
transaction. The return URLs come from the configured public URL only, never from the
request (no open redirect).

``handle`` is the purchases' webhook handler (``purchase_events``; ``WebhookService``
routes one-time payment events here) and ``reconcile`` (``purchase_reconcile``) feeds it
the same typed event built from the provider's view of a checkout.

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
import hashlib
import uuid
from collections.abc import Callable, Sequence

import attrs

from webmagic_core import events
from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import (
    Conflict,
    NotFound,
    Throttled,
    TransientError,
    Unauthenticated,
    ValidationError,
)
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.events import PaymentEvent
from webmagic_core.payments.gateway import (
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    PaymentGateway,
)
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.ports import Clock, RateLimiter, UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.accounts import AccountService, validate_full_name, validate_phone
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.services.checkout_holds import Claim, HeldCheckouts, Refusal
from webmagic_core.services.purchase_config import (
    NOT_FOR_SALE,
    PURCHASE_PAGES,
    RECONCILE_LOOKBACK,
    SITE_HELD,
    TOO_MANY_HOLDS,
    CheckoutStarted,
    PurchaseConfig,
    PurchaseLimits,
)
from webmagic_core.services.purchase_events import PurchaseEventHandler
from webmagic_core.services.purchase_reconcile import (
    PurchaseReconciler,
    ReconcileItem,
    ReconcileReport,
    ReconcileResult,
)
from webmagic_core.services.webhooks import EventContext, Handled
from webmagic_core.sites import Site
from webmagic_core.slugs import is_valid_slug

__all__ = [
    "NOT_FOR_SALE",
    "PURCHASE_PAGES",
    "RECONCILE_LOOKBACK",
    "SITE_HELD",
    "TOO_MANY_HOLDS",
    "CheckoutStarted",
    "PurchaseConfig",
    "PurchaseEventHandler",
    "PurchaseLimits",
    "PurchaseReconciler",
    "PurchaseService",
    "ReconcileItem",
    "ReconcileReport",
    "ReconcileResult",
]


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
    rate_limiter: RateLimiter
    anomalies: AnomalyReporter
    config: PurchaseConfig
    # Defaults to the accounts' normaliser: the address the purchase stores is the one
    # the account is found or created with when it is paid.
    normalize_email: Callable[[str], str] | None = None
    handler: PurchaseEventHandler = attrs.field(init=False)
    reconciler: PurchaseReconciler = attrs.field(init=False)
    _holds: HeldCheckouts[Purchase] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self.handler = PurchaseEventHandler(
            self.gateway, self.clock, self.accounts, self.anomalies, self.config
        )
        self.reconciler = PurchaseReconciler(self.uow, self.clock, self.gateway, self.handler, self.config)
        self._holds = HeldCheckouts(
            self.uow, self.clock, self.gateway, lambda uow: uow.purchases, self._release
        )

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

        def claim(uow: UnitOfWork, site: Site | None, now: dt.datetime) -> Claim[Purchase] | Refusal:
            if site is None or site.status is SiteStatus.ARCHIVED:
                raise NotFound(f"no site has the slug {slug!r}")
            if site.status is not SiteStatus.PREVIEW:
                raise Conflict(NOT_FOR_SALE)
            holder = self._holder(uow, site, now, verified)
            if holder is not None:
                if self._same_buyer(holder, email, customer_id, client_key):
                    if holder.checkout_id is None:
                        return Refusal(
                            Conflict("your checkout is still being created; try again in a moment")
                        )
                    # The same buyer again (a closed tab, a double click): same checkout.
                    return Claim(holder, new=False)
                minutes = max(1, -(-int((holder.expires_at - now).total_seconds()) // 60))
                return Refusal(Conflict(SITE_HELD.format(minutes=minutes)))
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
            return Claim(purchase, new=True)

        held = self._holds.open(slug, claim, self._checkout_request)
        current, site = held.record, held.site
        if held.new:
            events.emit(
                "purchase.started",
                f"purchase {current.id} started for site {site.slug}: checkout {current.checkout_id}",
                purchase_id=current.id,
                site_id=site.id,
                slug=site.slug,
                checkout_id=current.checkout_id,
                amount_in_cents=current.amount.amount_in_cents,
                currency=current.amount.currency,
            )
        return self._started(current)

    def _checkout_request(self, site: Site, purchase: Purchase) -> CheckoutRequest:
        return CheckoutRequest(
            kind=CheckoutKind.ONE_TIME,
            item_name=site.business_name,
            amount=purchase.amount,
            success_url=self.config.thanks_url(site.slug, purchase.id),
            cancel_url=self.config.cancel_url(site.slug, purchase.id),
            metadata={"purchase_id": str(purchase.id), "site_slug": site.slug, "site_id": str(site.id)},
            expires_at=purchase.expires_at,
            description=f"The website of {site.business_name} ({self.config.site_url(site.slug)})",
        )

    @staticmethod
    def _release(purchase: Purchase, now: dt.datetime, detail: str) -> bool:
        """The checkout could not be created: the purchase failed, so the site is free again."""
        if purchase.status is not PurchaseStatus.PENDING:
            return False
        purchase.mark_failed(now, f"the checkout could not be created: {detail}")
        return True

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
                self.reconciler.reconcile_one(purchase)
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

    # --- payment events (``PurchaseEventHandler``) ---------------------------------------

    def prefetch(self, event: PaymentEvent) -> None:
        """Nothing to read: a purchase's payment event carries what applying it needs."""

    def handle(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        return self.handler.handle(uow, event, context)

    def release_others(
        self,
        uow: UnitOfWork,
        site_id: uuid.UUID,
        now: dt.datetime,
        reason: str,
        *,
        keep: uuid.UUID | None = None,
    ) -> tuple[Callable[[], None], ...]:
        return self.handler.release_others(uow, site_id, now, reason, keep=keep)

    def closer(self, checkout_id: str) -> Callable[[], None]:
        return self.handler.closer(checkout_id)

    # --- reconciliation -------------------------------------------------------------------

    def reconcile(self, *, limit: int = 1000) -> ReconcileReport:
        """See ``PurchaseReconciler.reconcile``."""
        return self.reconciler.reconcile(limit=limit)

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
                item = self.reconciler.apply_paid(
                    info, ReconcileItem(purchase.id, info.id, ReconcileResult.PENDING)
                )
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
        allowed (until the earliest of those holds ends; when both limits bite, the later
        of the two, so the buyer is not sent back while still refused)."""
        limits = self.config.limits
        holding = [
            p for p in uow.purchases.list(status=PurchaseStatus.PENDING, limit=10_000) if p.holds_site(now)
        ]
        refusals: builtins.list[tuple[int, int]] = []
        for mine, allowed in (
            ([p for p in holding if p.buyer_email == email], limits.holds_per_email),
            (
                [p for p in holding if client_key is not None and p.client_key == client_key],
                limits.holds_per_client,
            ),
        ):
            if len(mine) >= allowed:
                ends = min(p.expires_at for p in mine)
                refusals.append((max(1, int((ends - now).total_seconds()) + 1), len(mine)))
        if refusals:
            wait, count = max(refusals)
            raise Throttled(TOO_MANY_HOLDS.format(count=count), retry_after=wait)

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
