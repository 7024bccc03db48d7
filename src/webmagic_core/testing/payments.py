"""A fake ``PaymentGateway`` and webhook payloads shaped like Recurrente's.

The provider itself (its request rules, what a paid checkout becomes, the payload shapes)
is the pure model of the adapters (``webmagic_adapters.payments.provider_model``),
re-exported here for the tests; the worlds read the bodies they are handed with
Recurrente's translator. Test support may import those pure modules (tests/architecture
checks it, and that the core proper imports none).

The fake keeps the model's checkouts and subscriptions in memory, records every call, and
can be scripted: ``pay`` / ``set_status`` change what ``get_checkout`` reports,
``fail_next`` makes the next calls fail (``GatewayUnavailable`` unless told otherwise). It
passes the gateway contract suite that the Recurrente and sandbox adapters pass.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

import webmagic_adapters.payments.provider_model as model
from webmagic_adapters.payments.provider_model import (
    CURRENCIES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    ProviderCheckout,
    new_id,
    payment_payload,
    request_problems,
)
from webmagic_adapters.payments.recurrente_events import RecurrenteEventTranslator
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.clock import SystemClock
from webmagic_core.money import Money
from webmagic_core.outbox import OutboxMessage
from webmagic_core.payments.gateway import (
    Checkout,
    CheckoutInfo,
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    GatewayNotFound,
    GatewayUnavailable,
    SubscriptionInfo,
)
from webmagic_core.payments.purchases import Purchase
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.payments.webhooks import VerifiedWebhook
from webmagic_core.ports import Clock
from webmagic_core.services.accounts import AccountLinks, AccountService
from webmagic_core.services.anomalies import AnomalyService
from webmagic_core.services.purchases import PurchaseConfig, PurchaseService
from webmagic_core.services.sites import SiteService
from webmagic_core.services.stats import StatsService
from webmagic_core.services.subscriptions import SubscriptionConfig
from webmagic_core.services.timeline import TimelineService
from webmagic_core.services.webhooks import WebhookService
from webmagic_core.services.wiring import Ports, Terms, UseCases, wire
from webmagic_core.sites import Site, SiteContent
from webmagic_core.testing.accounts import FakeEmailRenderer, FakeMailer, FakePasswordHasher, FakeTokenSigner
from webmagic_core.testing.fakes import (
    FakeClock,
    FakeRateLimiter,
    FakeStatsQuery,
    FakeUnitOfWorkFactory,
    _Store,
)

__all__ = [
    "CURRENCIES",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_KEY_LENGTH",
    "MAX_METADATA_VALUE_LENGTH",
    "FakePaymentGateway",
    "PaymentsWorld",
    "payment_payload",
    "payments_world",
    "request_problems",
]

GATEWAY_METHODS = frozenset(
    {
        "create_checkout",
        "get_checkout",
        "get_subscription",
        "cancel_subscription",
        "refund",
        "expire_checkout",
        "list_checkouts",
    }
)
# The fake's periods are 30 days long (the in-memory tests count in days).
PERIOD = dt.timedelta(days=30)
BY = "the provider"


def fake_period(start: dt.datetime) -> dt.datetime:
    return start + PERIOD


@attrs.define
class _Failure:
    method: str | None
    error: Exception


@attrs.define
class FakePaymentGateway:
    base_url: str = "https://pay.example.test"
    clock: Clock = attrs.field(factory=SystemClock)
    # Every accepted create_checkout request, in order.
    created: list[CheckoutRequest] = attrs.field(factory=list)
    # Every call made through the port (failed ones too): (method, argument).
    calls: list[tuple[str, str]] = attrs.field(factory=list)
    refunded: list[str] = attrs.field(factory=list)
    cancelled: list[str] = attrs.field(factory=list)
    _checkouts: dict[str, ProviderCheckout] = attrs.field(factory=dict, repr=False)
    _requests: dict[str, CheckoutRequest] = attrs.field(factory=dict, repr=False)
    _subscriptions: dict[str, SubscriptionInfo] = attrs.field(factory=dict, repr=False)
    # What a test scripted the provider to report instead of the model (``put_checkout``),
    # until the checkout next changes.
    _reported: dict[str, CheckoutInfo] = attrs.field(factory=dict, repr=False)
    _failures: list[_Failure] = attrs.field(factory=list, repr=False)
    _lock: threading.RLock = attrs.field(factory=threading.RLock, repr=False)

    # --- scripting ----------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, method: str | None = None, error: Exception | None = None) -> None:
        """Make the next ``count`` calls (of ``method`` only, when given) raise ``error``
        (default: ``GatewayUnavailable``, a transient fault)."""
        if method is not None and method not in GATEWAY_METHODS:
            raise ValueError(f"the gateway has no method {method!r}")
        for _ in range(count):
            self._failures.append(_Failure(method, error or GatewayUnavailable("fake gateway outage")))

    def checkout(self, checkout_id: str) -> CheckoutInfo:
        """What ``get_checkout`` would answer, without counting a call or failing."""
        with self._lock:
            return self._info(checkout_id)

    def request_for(self, checkout_id: str) -> CheckoutRequest:
        with self._lock:
            self._known(checkout_id)
            return self._requests[checkout_id]

    def pay(
        self, checkout_id: str, *, amount: Money | None = None, payment_id: str | None = None
    ) -> CheckoutInfo:
        """The buyer pays: the checkout becomes paid (with ``amount``, by default the
        requested one). A monthly checkout also starts an active subscription."""
        with self._lock:
            checkout = self._known(checkout_id)
            monthly = checkout.kind is CheckoutKind.MONTHLY
            now = self.clock.now()
            paid = checkout.paid(
                now, payment_id=payment_id or new_id("pa"), paymentable_id=new_id("su" if monthly else "on")
            )
            if amount is not None:
                paid = attrs.evolve(paid, amount=amount)
            if monthly:
                subscription = model.started_subscription(paid, now, period=fake_period)
                self._subscriptions[subscription.id] = subscription
            self._store(paid)
            return paid.info()

    def set_status(self, checkout_id: str, status: CheckoutStatus) -> CheckoutInfo:
        with self._lock:
            checkout = attrs.evolve(self._known(checkout_id), status=status)
            self._store(checkout)
            return checkout.info()

    def put_checkout(self, info: CheckoutInfo) -> None:
        """Replace what the provider reports for a checkout it created."""
        with self._lock:
            self._known(info.id)
            self._reported[info.id] = info

    def put_subscription(self, subscription: SubscriptionInfo) -> None:
        """Add or replace a subscription as the provider would report it."""
        with self._lock:
            self._subscriptions[subscription.id] = subscription

    def subscriptions(self) -> list[SubscriptionInfo]:
        with self._lock:
            return list(self._subscriptions.values())

    # --- the port -------------------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        with self._lock:
            self._call("create_checkout", request.item_name)
            checkout = ProviderCheckout.open(new_id("ch"), request, self.clock.now(), by=BY)
            self._requests[checkout.id] = request
            self._store(checkout)
            self.created.append(request)
            return Checkout(id=checkout.id, url=f"{self.base_url}/checkout-session/{checkout.id}")

    def get_checkout(self, checkout_id: str) -> CheckoutInfo:
        with self._lock:
            self._call("get_checkout", checkout_id)
            return self._info(checkout_id)

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        with self._lock:
            self._call("get_subscription", subscription_id)
            return self._subscription(subscription_id)

    def cancel_subscription(self, subscription_id: str) -> None:
        """Cancelling a cancelled subscription again is accepted (nothing changes)."""
        with self._lock:
            self._call("cancel_subscription", subscription_id)
            subscription = self._subscription(subscription_id)
            cancelled = model.cancelled(subscription)
            if cancelled != subscription:
                self._subscriptions[subscription_id] = cancelled
                self.cancelled.append(subscription_id)

    def refund(self, payment_id: str) -> None:
        with self._lock:
            self._call("refund", payment_id)
            paid = any(c.payment_id == payment_id for c in self._checkouts.values())
            model.check_refund(payment_id, paid=paid, refunded=payment_id in self.refunded, by=BY)
            self.refunded.append(payment_id)

    def expire_checkout(self, checkout_id: str, at: dt.datetime) -> None:
        with self._lock:
            self._call("expire_checkout", checkout_id)
            self._store(self._known(checkout_id).expiring(at))

    def list_checkouts(self, since: dt.datetime, *, limit: int = 500) -> Sequence[CheckoutInfo]:
        with self._lock:
            self._call("list_checkouts", since.isoformat())
            found = [c for c in self._checkouts.values() if c.created_at >= since]
            found.sort(key=lambda c: c.created_at, reverse=True)
            return [self._info(c.id) for c in found[:limit]]

    def is_open(self, checkout_id: str) -> bool:
        """Whether a buyer could still pay this checkout now."""
        with self._lock:
            return self._known(checkout_id).is_open(self.clock.now())

    # --- helpers --------------------------------------------------------------------------

    def _call(self, method: str, argument: str) -> None:
        self.calls.append((method, argument))
        for index, failure in enumerate(self._failures):
            if failure.method is None or failure.method == method:
                del self._failures[index]
                raise failure.error

    def _known(self, checkout_id: str) -> ProviderCheckout:
        checkout = self._checkouts.get(checkout_id)
        if checkout is None:
            raise GatewayNotFound(f"no checkout {checkout_id!r}", status=404)
        return checkout

    def _info(self, checkout_id: str) -> CheckoutInfo:
        return self._reported.get(checkout_id) or self._known(checkout_id).info()

    def _store(self, checkout: ProviderCheckout) -> None:
        self._checkouts[checkout.id] = checkout
        self._reported.pop(checkout.id, None)

    def _subscription(self, subscription_id: str) -> SubscriptionInfo:
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            raise GatewayNotFound(f"no subscription {subscription_id!r}", status=404)
        return subscription


# --- a wired world of purchase services on fakes (unit tests, HTTP tests on fakes) -------

PUBLIC_URL = "https://app.example.com"
SITES_URL = "https://sites.example.com"
ADMIN_EMAIL = "ops@example.com"
PRICE = Money(49500, "USD")
MONTHLY = Money(9500, "USD")


@attrs.define
class PaymentsWorld:
    clock: FakeClock
    uow: FakeUnitOfWorkFactory
    gateway: FakePaymentGateway
    limiter: FakeRateLimiter
    renderer: FakeEmailRenderer
    sites: SiteService
    accounts: AccountService
    purchases: PurchaseService
    webhooks: WebhookService
    anomalies: AnomalyService
    timeline: TimelineService
    stats: StatsService
    # The rest of what ``wire`` made (subscriptions, the sweep, the archiver, the relay).
    use: UseCases

    @property
    def store(self) -> _Store:
        return self.uow.store

    def preview(self, slug: str = "casa-rosa", business_name: str = "Casa Rosa") -> Site:
        return self.sites.create_preview(slug, business_name, SiteContent(html=f"<h1>{business_name}</h1>"))

    def site(self, slug: str = "casa-rosa") -> Site:
        [site] = [s for s in self.store.sites.values() if s.slug == slug]
        return site

    def purchase(self, purchase_id: uuid.UUID) -> Purchase:
        return self.store.purchases[purchase_id]

    def deliver(self, payload: Mapping[str, object] | bytes, message_id: str | None = None) -> WebhookOutcome:
        """Hand a (verified) webhook to the service, as the HTTP layer does."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        webhook = VerifiedWebhook(
            message_id=message_id or new_id("msg"), timestamp=self.clock.now(), body=body
        )
        return self.webhooks.receive(webhook)

    def paid_payload(self, checkout_id: str, **options: Any) -> dict[str, object]:
        """Pay ``checkout_id`` at the fake provider and return its succeeded webhook body."""
        info = self.gateway.pay(checkout_id)
        return payment_payload(info, **options)

    def mails(self, template: EmailTemplate | None = None, to: str | None = None) -> list[OutboxMessage]:
        return [
            m
            for m in self.store.outbox.values()
            if (template is None or m.message.template is template) and (to is None or m.message.to == to)
        ]


def payments_world(
    *,
    admin_email: str | None = ADMIN_EMAIL,
    subscription: Mapping[str, Any] | None = None,
    **config: Any,
) -> PaymentsWorld:
    """Every money and account service wired on fakes by ``services.wiring.wire`` (as
    production is); ``config`` overrides ``PurchaseConfig`` fields, ``subscription``
    ``SubscriptionConfig`` fields."""
    clock = FakeClock()
    uow = FakeUnitOfWorkFactory()
    gateway = FakePaymentGateway(clock=clock)
    limiter = FakeRateLimiter(clock)
    renderer = FakeEmailRenderer()
    hosting_days = config.get("owned_hosting_days", 30)
    use = wire(
        Ports(
            uow=uow,
            clock=clock,
            gateway=gateway,
            translator=RecurrenteEventTranslator(),
            mailer=FakeMailer(),
            renderer=renderer,
            hasher=FakePasswordHasher(),
            signer=FakeTokenSigner(clock=clock),
            rate_limiter=limiter,
            policy=PasswordPolicy(frozenset()),
        ),
        Terms(
            purchase=PurchaseConfig(
                **{"price": PRICE, "public_url": PUBLIC_URL, "sites_base_url": SITES_URL, **config}
            ),
            subscription=SubscriptionConfig(
                **{
                    "price": MONTHLY,
                    "public_url": PUBLIC_URL,
                    "sites_base_url": SITES_URL,
                    "owned_hosting_days": hosting_days,
                    **(subscription or {}),
                }
            ),
            links=AccountLinks(PUBLIC_URL),
            admin_email=admin_email,
        ),
    )
    return PaymentsWorld(
        clock=clock,
        uow=uow,
        gateway=gateway,
        limiter=limiter,
        renderer=renderer,
        sites=SiteService(uow=uow, clock=clock),
        accounts=use.accounts,
        purchases=use.purchases,
        webhooks=use.webhooks,
        anomalies=use.anomalies,
        timeline=TimelineService(uow=uow),
        stats=StatsService(FakeStatsQuery(uow.store)),
        use=use,
    )
