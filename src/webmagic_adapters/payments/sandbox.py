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
each returning the signed webhooks to deliver (``sandbox_delivery``: over HTTP to the
running app's endpoint, or in process to the webhook pipeline).

A thin layer over the provider model: the rules, the state changes and the webhook bodies
are the model's; here are only the transactions around them. ``sandbox_rows`` reads and
writes the tables as the model's values, ``sandbox_delivery`` delivers the signed webhooks.

Never built when ``WEBMAGIC_PAYMENTS=recurrente`` (``bootstrap.build_gateway``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import attrs
from sqlalchemy import Connection

import webmagic_adapters.payments.provider_model as model
from webmagic_adapters.payments import sandbox_rows as rows
from webmagic_adapters.payments.provider_model import (
    Customer,
    Move,
    ProviderCheckout,
    payment_payload,
    subscription_event_payload,
)
from webmagic_adapters.payments.recurrente_events import PAYMENT_FAILED, PAYMENT_SUCCEEDED
from webmagic_adapters.payments.sandbox_delivery import SandboxWebhook
from webmagic_adapters.payments.sandbox_rows import SandboxRefund
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.repositories import SQLITE_BEGIN_OPTION
from webmagic_core.errors import Conflict
from webmagic_core.payments.gateway import (
    Checkout,
    CheckoutInfo,
    CheckoutRequest,
    CheckoutStatus,
    GatewayError,
    SubscriptionInfo,
)
from webmagic_core.payments.webhooks import WebhookSigner
from webmagic_core.ports import Clock

__all__ = ["CHECKOUT_PATH", "DECLINED", "SandboxCheckout", "SandboxGateway", "SandboxRefund"]

CHECKOUT_PATH = "/sandbox/checkout"
SANDBOX_BUYER_EMAIL = "buyer@sandbox.invalid"
DECLINED = "the card was declined (sandbox)"
BY = "the sandbox"
# The sandbox's ids say so: ch_sandbox_..., su_sandbox_...
TAG = "sandbox"

# A checkout as the hosted sandbox page shows it: the provider model's.
SandboxCheckout = ProviderCheckout


def _new_id(prefix: str) -> str:
    return model.new_id(prefix, tag=TAG)


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
            rows.insert_checkout(connection, checkout)
        return Checkout(id=checkout.id, url=self.checkout_url(checkout.id))

    def get_checkout(self, checkout_id: str) -> CheckoutInfo:
        return self.checkout(checkout_id).info()

    def expire_checkout(self, checkout_id: str, at: dt.datetime) -> None:
        with self._writing() as connection:
            rows.save_checkout(
                connection, rows.read_checkout(connection, checkout_id, for_update=True).expiring(at)
            )

    def list_checkouts(self, since: dt.datetime, *, limit: int = 500) -> Sequence[CheckoutInfo]:
        with self._reading() as connection:
            return [checkout.info() for checkout in rows.checkouts_since(connection, since, limit)]

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        with self._reading() as connection:
            return rows.subscription_info(rows.subscription_row(connection, subscription_id))

    def cancel_subscription(self, subscription_id: str) -> None:
        """Idempotent: cancelling a cancelled subscription changes nothing."""
        now = self.clock.now()
        with self._writing() as connection:
            subscription = rows.subscription_info(
                rows.subscription_row(connection, subscription_id, for_update=True)
            )
            cancelled = model.cancelled(subscription)
            if cancelled != subscription:
                rows.save_subscription(connection, cancelled, now)

    def refund(self, payment_id: str) -> None:
        """A full refund of a paid checkout's payment, recorded once (a second one is a 422)."""
        now = self.clock.now()
        try:
            with self._writing() as connection:
                paid = rows.paid_amount(connection, payment_id)
                done = rows.refunded(connection, payment_id)
                model.check_refund(payment_id, paid=paid is not None, refunded=done, by=BY)
                assert paid is not None
                rows.insert_refund(connection, SandboxRefund(_new_id("re"), payment_id, paid, now))
        except GatewayError as error:
            if rows.is_duplicate(error):
                raise model.already_refunded(payment_id) from None  # a concurrent refund won
            raise

    # --- the hosted checkout page's side ---------------------------------------------------

    def checkout(self, checkout_id: str) -> SandboxCheckout:
        """What the hosted page shows (``GatewayNotFound`` for an unknown id)."""
        with self._reading() as connection:
            return rows.read_checkout(connection, checkout_id)

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
            checkout = rows.read_checkout(connection, checkout_id, for_update=True)
            checkout.check_payable(now)
            paid, started = model.pay(
                checkout,
                now,
                payment_id=_new_id("pa"),
                paymentable_id=_new_id(checkout.paymentable_prefix),
                customer_email=customer_email,
            )
            if started is not None:
                rows.insert_subscription(connection, started, now)
            rows.save_checkout(connection, paid)
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
        payload = payment_payload(
            checkout.declined_info(_new_id(checkout.paymentable_prefix)),
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

    def pause(self, subscription_id: str, *, event_type: str = model.PAUSE_EVENTS[0]) -> list[SandboxWebhook]:
        """Paused at the provider: no charges while paused. Sends ``event_type``
        (``subscription.pause`` or ``subscription.paused``: Recurrente documents both)."""
        return self._simulate(
            subscription_id, lambda subscription, _: model.pause(subscription, event_type=event_type)
        )

    def unpause(
        self, subscription_id: str, *, event_type: str = model.UNPAUSE_EVENTS[0]
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
            row = rows.subscription_row(connection, subscription_id, for_update=True)
            move = change(rows.subscription_info(row), now)
            amount = rows.monthly_price(connection, row) if move.charge is not None else None
            rows.save_subscription(connection, move.subscription, now)
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
            checkout = rows.read_checkout(connection, checkout_id, for_update=True)
            if checkout.status is CheckoutStatus.PAID:
                raise Conflict(f"checkout {checkout_id} is paid already")
            rows.save_checkout(connection, attrs.evolve(checkout, status=status))

    def put_subscription(self, subscription: SubscriptionInfo) -> None:
        """Add or replace a subscription as the provider would report it."""
        now = self.clock.now()
        with self._writing() as connection:
            if rows.subscription_exists(connection, subscription.id):
                rows.save_subscription(connection, subscription, now)
            else:
                rows.insert_subscription(connection, subscription, now)

    def refunds(self) -> list[SandboxRefund]:
        """Every refund recorded, oldest first."""
        with self._reading() as connection:
            return rows.all_refunds(connection)

    # --- plumbing --------------------------------------------------------------------------

    def _signed(self, payload: Mapping[str, object], now: dt.datetime) -> SandboxWebhook:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        message_id = _new_id("msg")
        headers = {**self._signer.sign(message_id, now, body), "content-type": "application/json"}
        return SandboxWebhook(
            message_id=message_id, event_type=str(payload["event_type"]), headers=headers, body=body
        )

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with rows.storage_errors(), self._engine.connect() as connection:
            yield connection
            connection.rollback()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One transaction holding the write lock from its start (SQLite: BEGIN IMMEDIATE,
        so a read-then-write never fails on a stale snapshot; PostgreSQL: row locks)."""
        with rows.storage_errors(), self._engine.connect() as connection:
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with connection.begin():
                yield connection
