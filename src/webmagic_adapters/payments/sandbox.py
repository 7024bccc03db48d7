"""``SandboxGateway``: the embedded payment provider, used when no payment keys are configured.

It implements the ``PaymentGateway`` port on the provider model (``provider_model``: the
same id prefixes, validation, 404 for unknown ids, 422 for a second refund, and the same
subscription machine as the test fakes) and keeps its checkouts,
subscriptions and refunds in the app's own database (``sandbox_checkouts``,
``sandbox_subscriptions``, ``sandbox_refunds``), so every process sharing the database
sees them: each app worker, and the CLI's ``webmagic payments reconcile``.

The app serves the hosted checkout page itself (``{public_url}/sandbox/checkout/{id}``,
see ``webmagic_http.sandbox``). Its "Pay" and "Decline" buttons call ``pay`` / ``decline``,
which update the checkout and return the webhook Recurrente would send
(``payment_intent.succeeded`` / ``payment_intent.failed`` in its exact top-level shape),
signed with the app's webhook secret; the page then delivers it to the app's webhook
endpoint, which verifies and processes it like any other. So the whole purchase flow runs
on a fresh machine with no keys.

Subscriptions too: a paid monthly checkout starts an active ``su_sandbox_...`` for a
month (``pay_all`` also returns its ``subscription.create``), and ``renew``, ``fail``,
``recover``, ``cancel``, ``pause`` and ``unpause`` play the provider's part afterwards,
each returning the signed webhooks to deliver. ``deliver_over_http`` POSTs them to the
running app's endpoint; ``deliver_in_process`` hands them to the webhook pipeline (a
``WebhookReceiver``) directly (the ``webmagic sandbox ...`` commands use these).

Never built when ``WEBMAGIC_PAYMENTS=recurrente`` (``bootstrap.build_gateway``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import httpx
from sqlalchemy import Connection, insert, select, update
from sqlalchemy import exc as sa_exc

import webmagic_adapters.payments.provider_model as model
from webmagic_adapters.payments.provider_model import (
    Customer,
    Move,
    ProviderCheckout,
    add_month,
    payment_payload,
    subscription_event_payload,
)
from webmagic_adapters.payments.recurrente_events import PAYMENT_FAILED, PAYMENT_SUCCEEDED
from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.errors import describe, is_transient
from webmagic_adapters.sqlalchemy.repositories import SQLITE_BEGIN_OPTION, AnyRow
from webmagic_core.errors import Conflict, TransientError, ValidationError
from webmagic_core.money import Money
from webmagic_core.payments.gateway import (
    Checkout,
    CheckoutInfo,
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    FreeTrial,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    SubscriptionInfo,
    SubscriptionStatus,
    TrialInterval,
)
from webmagic_core.payments.webhooks import WebhookReceiver, WebhookSigner, WebhookVerifier
from webmagic_core.ports import Clock

__all__ = [
    "CHECKOUT_PATH",
    "DECLINED",
    "WEBHOOK_PATH",
    "Delivery",
    "SandboxCheckout",
    "SandboxGateway",
    "SandboxRefund",
    "SandboxWebhook",
    "add_month",
    "deliver_in_process",
    "deliver_over_http",
    "webhook_url",
]

CHECKOUT_PATH = "/sandbox/checkout"
# Where the provider delivers its webhooks, below the public URL (docs/api.md).
WEBHOOK_PATH = "/api/v1/webhooks/recurrente"
SANDBOX_BUYER_EMAIL = "buyer@sandbox.invalid"
DECLINED = "the card was declined (sandbox)"
DELIVERY_TIMEOUT_SECONDS = 15.0
BY = "the sandbox"
# The sandbox's ids say so: ch_sandbox_..., su_sandbox_...
TAG = "sandbox"

# A checkout as the hosted sandbox page shows it: the provider model's.
SandboxCheckout = ProviderCheckout

_checkouts = t.sandbox_checkouts
_subscriptions = t.sandbox_subscriptions
_refunds = t.sandbox_refunds


def _new_id(prefix: str) -> str:
    return model.new_id(prefix, tag=TAG)


@attrs.frozen
class SandboxWebhook:
    """A signed delivery, ready to be POSTed to the webhook endpoint."""

    message_id: str
    event_type: str
    headers: Mapping[str, str]
    body: bytes


@attrs.frozen
class SandboxRefund:
    id: str
    payment_id: str
    amount: Money
    created_at: dt.datetime


def _provider_checkout(row: AnyRow) -> ProviderCheckout:
    return ProviderCheckout(
        id=row.id,
        kind=CheckoutKind(row.kind),
        item_name=row.item_name,
        description=row.description,
        amount=Money(int(row.amount_in_cents), row.currency),
        success_url=row.success_url,
        cancel_url=row.cancel_url,
        metadata={str(k): str(v) for k, v in dict(row.metadata).items()},
        status=CheckoutStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        paid_at=row.paid_at,
        payment_id=row.payment_id,
        free_trial=_free_trial(row),
        paymentable_type=row.paymentable_type,
        paymentable_id=row.paymentable_id,
    )


def _free_trial(row: AnyRow) -> FreeTrial | None:
    if row.free_trial_interval is None or row.free_trial_count is None:
        return None
    return FreeTrial(TrialInterval(row.free_trial_interval), int(row.free_trial_count))


def _subscription_info(row: AnyRow) -> SubscriptionInfo:
    return SubscriptionInfo(
        id=row.id,
        status=SubscriptionStatus(row.status),
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        next_payment_attempt_at=row.next_payment_attempt_at,
        checkout_id=row.checkout_id,
        customer_email=row.customer_email,
    )


def _unknown_checkout(checkout_id: str) -> GatewayNotFound:
    return GatewayNotFound(f"the sandbox has no checkout {checkout_id[:80]!r}", status=404)


def _unknown_subscription(subscription_id: str) -> GatewayNotFound:
    return GatewayNotFound(f"the sandbox has no subscription {subscription_id[:80]!r}", status=404)


class SandboxGateway:
    """Implements ``PaymentGateway`` on the app's database; thread-safe (no state but the engine)."""

    def __init__(self, database: Database, *, public_url: str, signer: WebhookSigner, clock: Clock) -> None:
        self._engine = database.engine
        self.public_url = public_url.rstrip("/")
        self._signer = signer
        self.clock = clock

    def __repr__(self) -> str:
        return f"SandboxGateway(public_url={self.public_url!r})"

    def checkout_url(self, checkout_id: str) -> str:
        return f"{self.public_url}{CHECKOUT_PATH}/{checkout_id}"

    # --- the port -------------------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        checkout = ProviderCheckout.open(_new_id("ch"), request, self.clock.now(), by=BY)
        with self._writing() as connection:
            connection.execute(
                insert(_checkouts).values(
                    id=checkout.id,
                    kind=checkout.kind.value,
                    item_name=checkout.item_name,
                    description=checkout.description,
                    amount_in_cents=checkout.amount.amount_in_cents,
                    currency=checkout.amount.currency,
                    success_url=checkout.success_url,
                    cancel_url=checkout.cancel_url,
                    metadata=dict(checkout.metadata),
                    expires_at=checkout.expires_at,
                    status=checkout.status.value,
                    created_at=checkout.created_at,
                    free_trial_interval=checkout.free_trial.interval.value if checkout.free_trial else None,
                    free_trial_count=checkout.free_trial.count if checkout.free_trial else None,
                )
            )
        return Checkout(id=checkout.id, url=self.checkout_url(checkout.id))

    def get_checkout(self, checkout_id: str) -> CheckoutInfo:
        return self.checkout(checkout_id).info()

    def expire_checkout(self, checkout_id: str, at: dt.datetime) -> None:
        with self._writing() as connection:
            row = self._checkout_row(connection, checkout_id, for_update=True)
            expiring = _provider_checkout(row).expiring(at)
            connection.execute(
                update(_checkouts)
                .where(_checkouts.c.id == checkout_id)
                .values(expires_at=expiring.expires_at)
            )

    def list_checkouts(self, since: dt.datetime, *, limit: int = 500) -> Sequence[CheckoutInfo]:
        query = (
            select(_checkouts)
            .where(_checkouts.c.created_at >= since)
            .order_by(_checkouts.c.created_at.desc(), _checkouts.c.id)
            .limit(limit)
        )
        with self._reading() as connection:
            return [_provider_checkout(row).info() for row in connection.execute(query)]

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        with self._reading() as connection:
            return _subscription_info(self._subscription_row(connection, subscription_id))

    def cancel_subscription(self, subscription_id: str) -> None:
        """Idempotent: cancelling a cancelled subscription changes nothing."""
        now = self.clock.now()
        with self._writing() as connection:
            subscription = _subscription_info(
                self._subscription_row(connection, subscription_id, for_update=True)
            )
            cancelled = model.cancelled(subscription)
            if cancelled != subscription:
                self._save_subscription(connection, cancelled, now)

    def refund(self, payment_id: str) -> None:
        """A full refund of a paid checkout's payment, recorded once (a second one is a 422)."""
        now = self.clock.now()
        try:
            with self._writing() as connection:
                paid = connection.execute(
                    select(_checkouts.c.amount_in_cents, _checkouts.c.currency).where(
                        _checkouts.c.payment_id == payment_id,
                        _checkouts.c.status == CheckoutStatus.PAID.value,
                    )
                ).first()
                done = connection.execute(
                    select(_refunds.c.id).where(_refunds.c.payment_id == payment_id)
                ).first()
                model.check_refund(payment_id, paid=paid is not None, refunded=done is not None, by=BY)
                assert paid is not None
                connection.execute(
                    insert(_refunds).values(
                        id=_new_id("re"),
                        payment_id=payment_id,
                        amount_in_cents=paid.amount_in_cents,
                        currency=paid.currency,
                        created_at=now,
                    )
                )
        except GatewayError as error:
            if isinstance(error.__cause__, sa_exc.IntegrityError):
                raise model.already_refunded(payment_id) from None  # a concurrent refund won
            raise

    # --- the hosted checkout page's side ---------------------------------------------------

    def checkout(self, checkout_id: str) -> SandboxCheckout:
        """What the hosted page shows (``GatewayNotFound`` for an unknown id)."""
        with self._reading() as connection:
            return _provider_checkout(self._checkout_row(connection, checkout_id))

    def pay(
        self,
        checkout_id: str,
        *,
        customer_email: str = SANDBOX_BUYER_EMAIL,
        customer_name: str | None = None,
    ) -> SandboxWebhook:
        """The buyer pays: the checkout becomes paid (a monthly one starts an active
        subscription for one month) and the signed ``payment_intent.succeeded`` to deliver
        is returned. ``Conflict`` when it is paid already (nothing changes, nothing to
        deliver again) or has expired."""
        now = self.clock.now()
        with self._writing() as connection:
            checkout = _provider_checkout(self._checkout_row(connection, checkout_id, for_update=True))
            checkout.check_payable(now)
            monthly = checkout.kind is CheckoutKind.MONTHLY
            paid = checkout.paid(
                now, payment_id=_new_id("pa"), paymentable_id=_new_id("su" if monthly else "on")
            )
            if monthly:
                subscription = model.started_subscription(paid, now, customer_email=customer_email)
                connection.execute(
                    insert(_subscriptions).values(
                        id=subscription.id, created_at=now, **_subscription_values(subscription, now)
                    )
                )
            connection.execute(
                update(_checkouts)
                .where(_checkouts.c.id == checkout_id)
                .values(
                    status=paid.status.value,
                    payment_id=paid.payment_id,
                    paymentable_type=paid.paymentable_type,
                    paymentable_id=paid.paymentable_id,
                    paid_at=paid.paid_at,
                )
            )
        payload = payment_payload(
            paid.info(),
            event_type=PAYMENT_SUCCEEDED,
            customer_email=customer_email,
            customer_name=customer_name,
            created_at=now,
        )
        return self._signed(payload, now)

    def decline(
        self,
        checkout_id: str,
        *,
        reason: str = DECLINED,
        customer_email: str = SANDBOX_BUYER_EMAIL,
        customer_name: str | None = None,
    ) -> SandboxWebhook:
        """The buyer's payment fails: the signed ``payment_intent.failed`` to deliver. The
        checkout stays unpaid (as at the provider, the buyer may try again) and a declined
        first payment starts no subscription. ``Conflict`` when paid or expired."""
        now = self.clock.now()
        checkout = self.checkout(checkout_id)
        checkout.check_payable(now)
        monthly = checkout.kind is CheckoutKind.MONTHLY
        # Recurrente names a subscription for a monthly checkout's payment, even a declined one.
        info = attrs.evolve(checkout.info(), subscription_id=_new_id("su") if monthly else None)
        payload = payment_payload(
            info,
            event_type=PAYMENT_FAILED,
            customer_email=customer_email,
            customer_name=customer_name,
            failure_reason=reason,
            payment_id=_new_id("pa"),
            created_at=now,
        )
        return self._signed(payload, now)

    def pay_all(
        self,
        checkout_id: str,
        *,
        customer_email: str = SANDBOX_BUYER_EMAIL,
        customer_name: str | None = None,
    ) -> list[SandboxWebhook]:
        """``pay``, and every webhook the provider sends about it, in its order: the
        ``payment_intent.succeeded``, then for a monthly checkout ``subscription.create``."""
        payment = self.pay(checkout_id, customer_email=customer_email, customer_name=customer_name)
        info = self.get_checkout(checkout_id)
        if info.subscription_id is None:
            return [payment]
        now = self.clock.now()
        created = subscription_event_payload(
            info.subscription_id,
            model.SUBSCRIPTION_CREATED,
            created_at=now,
            customer_email=customer_email,
            customer_name=customer_name,
            payment_id=info.payment_id,
        )
        return [payment, self._signed(created, now)]

    # --- simulating the provider's side of a subscription -------------------------------------
    #
    # Each method moves a sandbox subscription by the provider model's subscription machine
    # (``provider_model``: the rules the test fakes follow too) and returns the signed
    # webhooks the provider would send about the change, in order, for the caller to deliver
    # (``deliver_over_http`` / ``deliver_in_process``; ``webmagic sandbox ...``). A change
    # the provider would not make in the subscription's status is a ``Conflict`` (nothing
    # changes); an unknown id is ``GatewayNotFound``. ``get_subscription`` reports the new
    # state at once. A sandbox cannot wait a month: a renewal or failure simulated before
    # the current period's end ends that period now.

    def renew(self, subscription_id: str) -> list[SandboxWebhook]:
        """The period ends and the renewal is charged: a new, paid period of a month.
        Only an active subscription renews. Sends ``payment_intent.succeeded`` (a payment
        of the ``su_...``, naming no checkout)."""
        return self._simulate(subscription_id, model.renew)

    def fail(self, subscription_id: str, *, reason: str = DECLINED) -> list[SandboxWebhook]:
        """The renewal charge fails. For an active subscription the provider opens the next
        period unpaid and makes it past_due (sends ``payment_intent.failed`` and
        ``subscription.past_due``); for a past_due one, a retry fails (sends
        ``payment_intent.failed``). Either way the next attempt is 3 days later."""
        return self._simulate(subscription_id, model.fail, failure_reason=reason)

    def recover(self, subscription_id: str) -> list[SandboxWebhook]:
        """A retry of a past_due subscription is paid: active again, for the period the
        failed renewal opened. Sends ``payment_intent.succeeded``."""
        return self._simulate(subscription_id, lambda subscription, _: model.recover(subscription))

    def cancel(self, subscription_id: str) -> list[SandboxWebhook]:
        """Cancelled at the provider (by the customer there, an operator, or after the
        retries ran out): no more charges. Sends ``subscription.cancel``. (The port's
        ``cancel_subscription``, which the app calls, does the same without a webhook.)"""
        return self._simulate(subscription_id, lambda subscription, _: model.cancel(subscription))

    def pause(self, subscription_id: str, *, event_type: str = "subscription.pause") -> list[SandboxWebhook]:
        """Paused at the provider: no charges while paused. Sends ``event_type``
        (``subscription.pause`` or ``subscription.paused``: Recurrente documents both)."""
        return self._simulate(
            subscription_id, lambda subscription, _: model.pause(subscription, event_type=event_type)
        )

    def unpause(
        self, subscription_id: str, *, event_type: str = "subscription.unpause"
    ) -> list[SandboxWebhook]:
        """Unpaused (or reactivated, which a cancelled one may be too): active again for the
        period the provider reports. Sends ``event_type`` (``subscription.unpause`` or
        ``subscription.reactivate``)."""
        return self._simulate(
            subscription_id, lambda subscription, _: model.unpause(subscription, event_type=event_type)
        )

    def _simulate(
        self,
        subscription_id: str,
        change: Callable[[SubscriptionInfo, dt.datetime], Move],
        *,
        failure_reason: str = DECLINED,
    ) -> list[SandboxWebhook]:
        now = self.clock.now()
        with self._writing() as connection:
            row = self._subscription_row(connection, subscription_id, for_update=True)
            move = change(_subscription_info(row), now)
            amount = self._price(connection, row) if move.charge is not None else None
            self._save_subscription(connection, move.subscription, now)
        payloads = model.move_payloads(
            move,
            now,
            customer=Customer(row.customer_email),
            amount=amount,
            payment_id=_new_id("pa") if move.charge is not None else None,
            failure_reason=failure_reason,
        )
        return [self._signed(payload, now) for payload in payloads]

    # --- scripting (tests, demos) ---------------------------------------------------------

    def set_status(self, checkout_id: str, status: CheckoutStatus) -> None:
        """Report an unpaid checkout as ``unpaid`` or ``payment_in_progress`` (``pay`` pays)."""
        if status is CheckoutStatus.PAID:
            raise ValueError("a checkout becomes paid through pay(), which names its payment")
        with self._writing() as connection:
            row = self._checkout_row(connection, checkout_id, for_update=True)
            if row.status == CheckoutStatus.PAID.value:
                raise Conflict(f"checkout {checkout_id} is paid already")
            connection.execute(
                update(_checkouts).where(_checkouts.c.id == checkout_id).values(status=status.value)
            )

    def put_subscription(self, subscription: SubscriptionInfo) -> None:
        """Add or replace a subscription as the provider would report it."""
        now = self.clock.now()
        with self._writing() as connection:
            found = connection.execute(
                select(_subscriptions.c.id).where(_subscriptions.c.id == subscription.id).with_for_update()
            ).first()
            if found is None:
                connection.execute(
                    insert(_subscriptions).values(
                        id=subscription.id, created_at=now, **_subscription_values(subscription, now)
                    )
                )
            else:
                self._save_subscription(connection, subscription, now)

    def refunds(self) -> list[SandboxRefund]:
        """Every refund recorded, oldest first."""
        with self._reading() as connection:
            rows = connection.execute(select(_refunds).order_by(_refunds.c.created_at, _refunds.c.id)).all()
        return [
            SandboxRefund(
                id=row.id,
                payment_id=row.payment_id,
                amount=Money(int(row.amount_in_cents), row.currency),
                created_at=row.created_at,
            )
            for row in rows
        ]

    # --- plumbing --------------------------------------------------------------------------

    @staticmethod
    def _subscription_row(
        connection: Connection, subscription_id: str, *, for_update: bool = False
    ) -> AnyRow:
        query = select(_subscriptions).where(_subscriptions.c.id == subscription_id)
        row = connection.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            raise _unknown_subscription(subscription_id)
        return row

    @staticmethod
    def _save_subscription(connection: Connection, subscription: SubscriptionInfo, now: dt.datetime) -> None:
        connection.execute(
            update(_subscriptions)
            .where(_subscriptions.c.id == subscription.id)
            .values(**_subscription_values(subscription, now))
        )

    @staticmethod
    def _price(connection: Connection, row: AnyRow) -> Money:
        """The monthly amount: the one its recurring checkout was created with."""
        paid = connection.execute(
            select(_checkouts.c.amount_in_cents, _checkouts.c.currency).where(
                _checkouts.c.id == row.checkout_id
            )
        ).first()
        if paid is None:
            raise Conflict(f"subscription {row.id} has no sandbox checkout, so its monthly price is unknown")
        return Money(int(paid.amount_in_cents), paid.currency)

    def _signed(self, payload: Mapping[str, object], now: dt.datetime) -> SandboxWebhook:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        message_id = _new_id("msg")
        headers = {**self._signer.sign(message_id, now, body), "content-type": "application/json"}
        return SandboxWebhook(
            message_id=message_id, event_type=str(payload["event_type"]), headers=headers, body=body
        )

    @staticmethod
    def _checkout_row(connection: Connection, checkout_id: str, *, for_update: bool = False) -> AnyRow:
        query = select(_checkouts).where(_checkouts.c.id == checkout_id)
        row = connection.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            raise _unknown_checkout(checkout_id)
        return row

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with _storage_errors(), self._engine.connect() as connection:
            yield connection
            connection.rollback()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One transaction holding the write lock from its start (SQLite: BEGIN IMMEDIATE,
        so a read-then-write never fails on a stale snapshot; PostgreSQL: row locks)."""
        with _storage_errors(), self._engine.connect() as connection:
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with connection.begin():
                yield connection


def _subscription_values(subscription: SubscriptionInfo, now: dt.datetime) -> dict[str, Any]:
    return {
        "checkout_id": subscription.checkout_id,
        "status": subscription.status.value,
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "next_payment_attempt_at": subscription.next_payment_attempt_at,
        "customer_email": subscription.customer_email,
        "updated_at": now,
    }


@contextmanager
def _storage_errors() -> Iterator[None]:
    """Database faults become the port's errors (no SQLAlchemy exception crosses it)."""
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as error:
        if is_transient(error):
            raise GatewayUnavailable(
                f"the sandbox's storage is unavailable or busy ({describe(error)})"
            ) from None
        raise GatewayError(f"the sandbox's storage failed ({describe(error)})") from error


# --- delivering the webhooks the simulations return ---------------------------------------


@attrs.frozen
class Delivery:
    """What became of one delivered webhook."""

    message_id: str
    event_type: str
    status: int | None  # the HTTP status answered; None when the endpoint was not reached
    body: str  # the answer's body, or what went wrong

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def webhook_url(public_url: str) -> str:
    """The app's webhook endpoint below its public URL (``WEBMAGIC_PUBLIC_URL``)."""
    return public_url.rstrip("/") + WEBHOOK_PATH


def deliver_over_http(
    webhooks: Iterable[SandboxWebhook],
    url: str,
    *,
    timeout: float = DELIVERY_TIMEOUT_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> list[Delivery]:
    """POST each webhook, in order, to ``url`` (``webhook_url(public_url)``: the running
    app, through whatever proxy fronts it), as the provider does. Stops after the first one
    that is not accepted: the list holds the attempted ones only. The provider would
    retry a refused delivery; here, run the simulation's sync (``webmagic subscriptions
    sync``) or deliver again."""
    results: list[Delivery] = []
    with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client:
        for webhook in webhooks:
            try:
                response = client.post(url, content=webhook.body, headers=dict(webhook.headers))
            except httpx.HTTPError as error:
                results.append(
                    Delivery(webhook.message_id, webhook.event_type, None, f"{type(error).__name__}: {error}")
                )
                break
            results.append(
                Delivery(webhook.message_id, webhook.event_type, response.status_code, response.text)
            )
            if not results[-1].accepted:
                break
    return results


def deliver_in_process(
    webhooks: Iterable[SandboxWebhook], verifier: WebhookVerifier, service: WebhookReceiver
) -> list[Delivery]:
    """Hand each webhook, in order, to the webhook pipeline in this process (no server
    needed): verified like a delivery over HTTP, then ``WebhookService.receive``. The
    statuses are those the endpoint would answer (200, 400 refused, 503 transient).
    Stops after the first one that is not accepted."""
    results: list[Delivery] = []
    for webhook in webhooks:
        try:
            outcome = service.receive(verifier.verify(webhook.headers, webhook.body))
        except ValidationError as error:  # a bad signature, an unreadable body
            delivery = Delivery(webhook.message_id, webhook.event_type, 400, error.detail)
        except TransientError as error:
            delivery = Delivery(webhook.message_id, webhook.event_type, 503, error.detail)
        else:
            answer = json.dumps({"status": outcome.answer})
            delivery = Delivery(webhook.message_id, webhook.event_type, 200, answer)
        results.append(delivery)
        if not delivery.accepted:
            break
    return results
