"""``SandboxGateway``: the embedded payment provider, used when no payment keys are configured.

It implements the ``PaymentGateway`` port the way Recurrente behaves (same id prefixes,
same validation, 404 for unknown ids, 422 for a second refund) and keeps its checkouts,
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

Never built when ``WEBMAGIC_PAYMENTS=recurrente`` (``bootstrap.build_gateway``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
from sqlalchemy import Connection, insert, select, update
from sqlalchemy import exc as sa_exc

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.errors import describe, is_transient
from webmagic_adapters.sqlalchemy.repositories import SQLITE_BEGIN_OPTION, AnyRow
from webmagic_core.errors import Conflict
from webmagic_core.money import Money
from webmagic_core.payments.events import (
    ONE_TIME_PAYMENTABLE,
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    SUBSCRIPTION_PAYMENTABLE,
)
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
from webmagic_core.payments.webhooks import WebhookSigner
from webmagic_core.ports import Clock

# The provider's rules and payload shape are the fake's: one definition of each.
from webmagic_core.testing.payments import payment_payload, request_problems

CHECKOUT_PATH = "/sandbox/checkout"
SANDBOX_BUYER_EMAIL = "buyer@sandbox.invalid"
DECLINED = "the card was declined (sandbox)"

_checkouts = t.sandbox_checkouts
_subscriptions = t.sandbox_subscriptions
_refunds = t.sandbox_refunds


def _new_id(prefix: str) -> str:
    return f"{prefix}_sandbox_{secrets.token_hex(12)}"


def add_month(value: dt.datetime) -> dt.datetime:
    """The same day of the next month (the month's last day when it has fewer days)."""
    year, month = (value.year + 1, 1) if value.month == 12 else (value.year, value.month + 1)
    return value.replace(year=year, month=month, day=min(value.day, calendar.monthrange(year, month)[1]))


@attrs.frozen
class SandboxCheckout:
    """A checkout as the hosted sandbox page shows it."""

    id: str
    kind: CheckoutKind
    item_name: str
    description: str | None
    amount: Money
    success_url: str
    cancel_url: str
    metadata: Mapping[str, str]
    status: CheckoutStatus
    created_at: dt.datetime
    expires_at: dt.datetime | None
    paid_at: dt.datetime | None
    payment_id: str | None

    def expired(self, now: dt.datetime) -> bool:
        return (
            self.status is not CheckoutStatus.PAID and self.expires_at is not None and now >= self.expires_at
        )


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


def _sandbox_checkout(row: AnyRow) -> SandboxCheckout:
    return SandboxCheckout(
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
    )


def _checkout_info(row: AnyRow) -> CheckoutInfo:
    return CheckoutInfo(
        id=row.id,
        status=CheckoutStatus(row.status),
        amount=Money(int(row.amount_in_cents), row.currency),
        live_mode=False,
        metadata={str(k): str(v) for k, v in dict(row.metadata).items()},
        payment_id=row.payment_id,
        paymentable_type=row.paymentable_type,
        paymentable_id=row.paymentable_id,
    )


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
        now = self.clock.now()
        problems = request_problems(request, now)
        if problems:
            raise GatewayError("the sandbox refused the checkout: " + "; ".join(problems), status=422)
        checkout_id = _new_id("ch")
        with self._writing() as connection:
            connection.execute(
                insert(_checkouts).values(
                    id=checkout_id,
                    kind=request.kind.value,
                    item_name=request.item_name,
                    description=request.description,
                    amount_in_cents=request.amount.amount_in_cents,
                    currency=request.amount.currency,
                    success_url=request.success_url,
                    cancel_url=request.cancel_url,
                    metadata=dict(request.metadata),
                    expires_at=request.expires_at,
                    status=CheckoutStatus.UNPAID.value,
                    created_at=now,
                )
            )
        return Checkout(id=checkout_id, url=self.checkout_url(checkout_id))

    def get_checkout(self, checkout_id: str) -> CheckoutInfo:
        with self._reading() as connection:
            return _checkout_info(self._checkout_row(connection, checkout_id))

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        with self._reading() as connection:
            row = connection.execute(
                select(_subscriptions).where(_subscriptions.c.id == subscription_id)
            ).first()
        if row is None:
            raise _unknown_subscription(subscription_id)
        return _subscription_info(row)

    def cancel_subscription(self, subscription_id: str) -> None:
        """Idempotent: cancelling a cancelled subscription changes nothing."""
        now = self.clock.now()
        with self._writing() as connection:
            row = connection.execute(
                select(_subscriptions.c.status)
                .where(_subscriptions.c.id == subscription_id)
                .with_for_update()
            ).first()
            if row is None:
                raise _unknown_subscription(subscription_id)
            if row.status != SubscriptionStatus.CANCELLED.value:
                connection.execute(
                    update(_subscriptions)
                    .where(_subscriptions.c.id == subscription_id)
                    .values(
                        status=SubscriptionStatus.CANCELLED.value,
                        next_payment_attempt_at=None,
                        updated_at=now,
                    )
                )

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
                if paid is None:
                    raise GatewayNotFound(f"the sandbox has no payment {payment_id[:80]!r}", status=404)
                done = connection.execute(
                    select(_refunds.c.id).where(_refunds.c.payment_id == payment_id)
                ).first()
                if done is not None:
                    raise _already_refunded(payment_id)
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
                raise _already_refunded(payment_id) from None  # a concurrent refund won
            raise

    # --- the hosted checkout page's side ---------------------------------------------------

    def checkout(self, checkout_id: str) -> SandboxCheckout:
        """What the hosted page shows (``GatewayNotFound`` for an unknown id)."""
        with self._reading() as connection:
            return _sandbox_checkout(self._checkout_row(connection, checkout_id))

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
            row = self._checkout_row(connection, checkout_id, for_update=True)
            self._check_payable(_sandbox_checkout(row), now)
            payment_id = _new_id("pa")
            if row.kind == CheckoutKind.MONTHLY.value:
                paymentable = (SUBSCRIPTION_PAYMENTABLE, _new_id("su"))
                connection.execute(
                    insert(_subscriptions).values(
                        id=paymentable[1],
                        checkout_id=checkout_id,
                        status=SubscriptionStatus.ACTIVE.value,
                        current_period_start=now,
                        current_period_end=add_month(now),
                        next_payment_attempt_at=add_month(now),
                        customer_email=customer_email,
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                paymentable = (ONE_TIME_PAYMENTABLE, _new_id("on"))
            connection.execute(
                update(_checkouts)
                .where(_checkouts.c.id == checkout_id)
                .values(
                    status=CheckoutStatus.PAID.value,
                    payment_id=payment_id,
                    paymentable_type=paymentable[0],
                    paymentable_id=paymentable[1],
                    paid_at=now,
                )
            )
            info = _checkout_info(self._checkout_row(connection, checkout_id))
        payload = payment_payload(
            info,
            event_type=PAYMENT_SUCCEEDED,
            customer_email=customer_email,
            customer_name=customer_name,
            created_at=now,
        )
        return self._signed(PAYMENT_SUCCEEDED, payload, now)

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
        with self._reading() as connection:
            row = self._checkout_row(connection, checkout_id)
        self._check_payable(_sandbox_checkout(row), now)
        monthly = row.kind == CheckoutKind.MONTHLY.value
        info = attrs.evolve(
            _checkout_info(row),
            paymentable_type=SUBSCRIPTION_PAYMENTABLE if monthly else ONE_TIME_PAYMENTABLE,
            paymentable_id=_new_id("su" if monthly else "on"),
        )
        payload = payment_payload(
            info,
            event_type=PAYMENT_FAILED,
            customer_email=customer_email,
            customer_name=customer_name,
            failure_reason=reason,
            payment_id=_new_id("pa"),
            created_at=now,
        )
        return self._signed(PAYMENT_FAILED, payload, now)

    # --- scripting (tests, demos; the subscriptions issue simulates renewals with these) ---

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
        values: dict[str, Any] = {
            "checkout_id": subscription.checkout_id,
            "status": subscription.status.value,
            "current_period_start": subscription.current_period_start,
            "current_period_end": subscription.current_period_end,
            "next_payment_attempt_at": subscription.next_payment_attempt_at,
            "customer_email": subscription.customer_email,
            "updated_at": now,
        }
        with self._writing() as connection:
            found = connection.execute(
                select(_subscriptions.c.id).where(_subscriptions.c.id == subscription.id).with_for_update()
            ).first()
            if found is None:
                connection.execute(
                    insert(_subscriptions).values(id=subscription.id, created_at=now, **values)
                )
            else:
                connection.execute(
                    update(_subscriptions).where(_subscriptions.c.id == subscription.id).values(**values)
                )

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
    def _check_payable(checkout: SandboxCheckout, now: dt.datetime) -> None:
        if checkout.status is CheckoutStatus.PAID:
            raise Conflict(f"checkout {checkout.id} is paid already")
        if checkout.expired(now):
            assert checkout.expires_at is not None
            raise Conflict(f"checkout {checkout.id} expired at {checkout.expires_at.isoformat()}")

    def _signed(self, event_type: str, payload: Mapping[str, object], now: dt.datetime) -> SandboxWebhook:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        message_id = _new_id("msg")
        headers = {**self._signer.sign(message_id, now, body), "content-type": "application/json"}
        return SandboxWebhook(message_id=message_id, event_type=event_type, headers=headers, body=body)

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


def _already_refunded(payment_id: str) -> GatewayError:
    return GatewayError(f"payment {payment_id[:80]} is already refunded", status=422)


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
