"""A fake ``PaymentGateway`` and webhook payloads shaped like Recurrente's.

The request rules and the payload shape are the provider's (``payments.provider_rules``),
re-exported here for the tests.

The fake keeps checkouts and subscriptions in memory, records every call, checks requests
the way the provider does (422-style ``GatewayError``), and can be scripted: ``pay`` /
``set_status`` change what ``get_checkout`` reports, ``fail_next`` makes the next calls
fail (``GatewayUnavailable`` unless told otherwise). It passes the gateway contract suite
that the Recurrente and sandbox adapters pass.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.clock import SystemClock
from webmagic_core.money import Money
from webmagic_core.outbox import OutboxMessage
from webmagic_core.payments.events import ONE_TIME_PAYMENTABLE, SUBSCRIPTION_PAYMENTABLE
from webmagic_core.payments.gateway import (
    Checkout,
    CheckoutInfo,
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    SubscriptionInfo,
    SubscriptionStatus,
)
from webmagic_core.payments.provider_rules import (
    CURRENCIES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    payment_payload,
    request_problems,
    trial_end,
)
from webmagic_core.payments.purchases import Purchase
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.payments.webhooks import VerifiedWebhook
from webmagic_core.ports import Clock
from webmagic_core.services.accounts import AccountLinks, AccountService
from webmagic_core.services.anomalies import AnomalyReporter, AnomalyService
from webmagic_core.services.purchases import PurchaseConfig, PurchaseService
from webmagic_core.services.sites import SiteService
from webmagic_core.services.stats import StatsService
from webmagic_core.services.timeline import TimelineService
from webmagic_core.services.webhooks import WebhookService
from webmagic_core.sites import Site, SiteContent
from webmagic_core.testing.accounts import FakeEmailRenderer, FakePasswordHasher, FakeTokenSigner
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


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


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
    _checkouts: dict[str, CheckoutInfo] = attrs.field(factory=dict, repr=False)
    _requests: dict[str, CheckoutRequest] = attrs.field(factory=dict, repr=False)
    _subscriptions: dict[str, SubscriptionInfo] = attrs.field(factory=dict, repr=False)
    _payments: set[str] = attrs.field(factory=set, repr=False)
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
            return self._known(checkout_id)

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
            info = self._known(checkout_id)
            request = self._requests[checkout_id]
            payment_id = payment_id or _new_id("pa")
            self._payments.add(payment_id)
            if request.kind is CheckoutKind.MONTHLY:
                now = self.clock.now()
                # A free trial is the first period: nothing is charged until it ends.
                first_end = (
                    trial_end(now, request.free_trial)
                    if request.free_trial is not None
                    else now + dt.timedelta(days=30)
                )
                subscription = SubscriptionInfo(
                    id=_new_id("su"),
                    status=SubscriptionStatus.ACTIVE,
                    current_period_start=now,
                    current_period_end=first_end,
                    next_payment_attempt_at=first_end,
                    checkout_id=checkout_id,
                )
                self._subscriptions[subscription.id] = subscription
                paymentable = (SUBSCRIPTION_PAYMENTABLE, subscription.id)
            else:
                paymentable = (ONE_TIME_PAYMENTABLE, _new_id("on"))
            info = attrs.evolve(
                info,
                status=CheckoutStatus.PAID,
                amount=amount or info.amount,
                payment_id=payment_id,
                paymentable_type=paymentable[0],
                paymentable_id=paymentable[1],
            )
            self._checkouts[checkout_id] = info
            return info

    def set_status(self, checkout_id: str, status: CheckoutStatus) -> CheckoutInfo:
        with self._lock:
            info = attrs.evolve(self._known(checkout_id), status=status)
            self._checkouts[checkout_id] = info
            return info

    def put_checkout(self, info: CheckoutInfo) -> None:
        """Replace what the provider reports for a checkout it created."""
        with self._lock:
            self._known(info.id)
            self._checkouts[info.id] = info

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
            problems = request_problems(request, self.clock.now())
            if problems:
                raise GatewayError("the provider refused the checkout: " + "; ".join(problems), status=422)
            checkout_id = _new_id("ch")
            self._requests[checkout_id] = request
            self._checkouts[checkout_id] = CheckoutInfo(
                id=checkout_id,
                status=CheckoutStatus.UNPAID,
                amount=request.amount,
                live_mode=False,
                metadata=dict(request.metadata),
                expires_at=request.expires_at,
                created_at=self.clock.now(),
            )
            self.created.append(request)
            return Checkout(id=checkout_id, url=f"{self.base_url}/checkout-session/{checkout_id}")

    def get_checkout(self, checkout_id: str) -> CheckoutInfo:
        with self._lock:
            self._call("get_checkout", checkout_id)
            return self._known(checkout_id)

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        with self._lock:
            self._call("get_subscription", subscription_id)
            subscription = self._subscriptions.get(subscription_id)
            if subscription is None:
                raise GatewayNotFound(f"no subscription {subscription_id!r}", status=404)
            return subscription

    def cancel_subscription(self, subscription_id: str) -> None:
        """Cancelling a cancelled subscription again is accepted (nothing changes)."""
        with self._lock:
            self._call("cancel_subscription", subscription_id)
            subscription = self._subscriptions.get(subscription_id)
            if subscription is None:
                raise GatewayNotFound(f"no subscription {subscription_id!r}", status=404)
            if subscription.status is not SubscriptionStatus.CANCELLED:
                self._subscriptions[subscription_id] = attrs.evolve(
                    subscription, status=SubscriptionStatus.CANCELLED, next_payment_attempt_at=None
                )
                self.cancelled.append(subscription_id)

    def refund(self, payment_id: str) -> None:
        with self._lock:
            self._call("refund", payment_id)
            if payment_id not in self._payments:
                raise GatewayNotFound(f"no payment {payment_id!r}", status=404)
            if payment_id in self.refunded:
                raise GatewayError(f"payment {payment_id} is already refunded", status=422)
            self.refunded.append(payment_id)

    def expire_checkout(self, checkout_id: str, at: dt.datetime) -> None:
        with self._lock:
            self._call("expire_checkout", checkout_id)
            info = self._known(checkout_id)
            if info.status is CheckoutStatus.PAID:
                raise GatewayError(f"checkout {checkout_id} is paid and cannot be changed", status=422)
            self._checkouts[checkout_id] = attrs.evolve(info, expires_at=at)

    def list_checkouts(self, since: dt.datetime, *, limit: int = 500) -> Sequence[CheckoutInfo]:
        with self._lock:
            self._call("list_checkouts", since.isoformat())
            found = [c for c in self._checkouts.values() if c.created_at is None or c.created_at >= since]
            found.sort(key=lambda c: c.created_at or since, reverse=True)
            return found[:limit]

    def is_open(self, checkout_id: str) -> bool:
        """Whether a buyer could still pay this checkout now."""
        with self._lock:
            info = self._known(checkout_id)
            return info.status is not CheckoutStatus.PAID and (
                info.expires_at is None or self.clock.now() < info.expires_at
            )

    # --- helpers --------------------------------------------------------------------------

    def _call(self, method: str, argument: str) -> None:
        self.calls.append((method, argument))
        for index, failure in enumerate(self._failures):
            if failure.method is None or failure.method == method:
                del self._failures[index]
                raise failure.error

    def _known(self, checkout_id: str) -> CheckoutInfo:
        info = self._checkouts.get(checkout_id)
        if info is None:
            raise GatewayNotFound(f"no checkout {checkout_id!r}", status=404)
        return info


# --- a wired world of purchase services on fakes (unit tests, HTTP tests on fakes) -------

PUBLIC_URL = "https://app.example.com"
SITES_URL = "https://sites.example.com"
ADMIN_EMAIL = "ops@example.com"
PRICE = Money(49500, "USD")


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
            message_id=message_id or _new_id("msg"), timestamp=self.clock.now(), body=body
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


def payments_world(*, admin_email: str | None = ADMIN_EMAIL, **config: Any) -> PaymentsWorld:
    """Every purchase service wired on fakes; ``config`` overrides ``PurchaseConfig`` fields."""
    clock = FakeClock()
    uow = FakeUnitOfWorkFactory()
    gateway = FakePaymentGateway(clock=clock)
    limiter = FakeRateLimiter(clock)
    renderer = FakeEmailRenderer()
    accounts = AccountService(
        uow=uow,
        clock=clock,
        hasher=FakePasswordHasher(),
        signer=FakeTokenSigner(clock=clock),
        renderer=renderer,
        policy=PasswordPolicy(frozenset()),
        rate_limiter=limiter,
        links=AccountLinks(PUBLIC_URL),
    )
    reporter = AnomalyReporter(renderer, admin_email=admin_email)
    purchases = PurchaseService(
        uow=uow,
        clock=clock,
        gateway=gateway,
        accounts=accounts,
        renderer=renderer,
        rate_limiter=limiter,
        anomalies=reporter,
        config=PurchaseConfig(
            **{"price": PRICE, "public_url": PUBLIC_URL, "sites_base_url": SITES_URL, **config}
        ),
    )
    return PaymentsWorld(
        clock=clock,
        uow=uow,
        gateway=gateway,
        limiter=limiter,
        renderer=renderer,
        sites=SiteService(uow=uow, clock=clock),
        accounts=accounts,
        purchases=purchases,
        webhooks=WebhookService(uow=uow, clock=clock, purchases=purchases, anomalies=reporter),
        anomalies=AnomalyService(uow=uow, clock=clock),
        timeline=TimelineService(uow=uow),
        stats=StatsService(FakeStatsQuery(uow.store)),
    )
