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

Subscriptions too: a paid monthly checkout starts an active ``su_sandbox_...`` for a
month (``pay_all`` also returns its ``subscription.create``), and ``renew``, ``fail``,
``recover``, ``cancel``, ``pause`` and ``unpause`` play the provider's part afterwards
(the rules of ``webmagic_core.testing.subscriptions.ProviderSimulator``), each returning
the signed webhooks to deliver. ``deliver_over_http`` POSTs them to the running app's
endpoint; ``deliver_in_process`` hands them to a ``WebhookService`` directly (the
``webmagic sandbox ...`` commands use these).

Never built when ``WEBMAGIC_PAYMENTS=recurrente`` (``bootstrap.build_gateway``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import httpx
from sqlalchemy import Connection, insert, select, update
from sqlalchemy import exc as sa_exc

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.errors import describe, is_transient
from webmagic_adapters.sqlalchemy.repositories import SQLITE_BEGIN_OPTION, AnyRow
from webmagic_core.errors import Conflict, TransientError, ValidationError
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
    FreeTrial,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    SubscriptionInfo,
    SubscriptionStatus,
    TrialInterval,
)
from webmagic_core.payments.provider_rules import (
    payment_payload,
    request_problems,
    subscription_event_payload,
    subscription_payment_payload,
    trial_end,
)
from webmagic_core.payments.webhooks import WebhookSigner, WebhookVerifier
from webmagic_core.ports import Clock
from webmagic_core.services.webhooks import WebhookService

CHECKOUT_PATH = "/sandbox/checkout"
# Where the provider delivers its webhooks, below the public URL (docs/api.md).
WEBHOOK_PATH = "/api/v1/webhooks/recurrente"
SANDBOX_BUYER_EMAIL = "buyer@sandbox.invalid"
DECLINED = "the card was declined (sandbox)"
# After a failed charge the provider tries again this much later.
RETRY_AFTER = dt.timedelta(days=3)
DELIVERY_TIMEOUT_SECONDS = 15.0
SUBSCRIPTION_CREATED = "subscription.create"
SUBSCRIPTION_PAST_DUE = "subscription.past_due"
SUBSCRIPTION_CANCELLED = "subscription.cancel"
PAUSE_EVENTS = ("subscription.pause", "subscription.paused")
UNPAUSE_EVENTS = ("subscription.unpause", "subscription.reactivate")
BILLED = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)

_checkouts = t.sandbox_checkouts
_subscriptions = t.sandbox_subscriptions
_refunds = t.sandbox_refunds


def _new_id(prefix: str) -> str:
    return f"{prefix}_sandbox_{secrets.token_hex(12)}"


def add_month(value: dt.datetime) -> dt.datetime:
    """The same day of the next month (the month's last day when it has fewer days)."""
    year, month = (value.year + 1, 1) if value.month == 12 else (value.year, value.month + 1)
    return value.replace(year=year, month=month, day=min(value.day, calendar.monthrange(year, month)[1]))


def _next_period(row: AnyRow, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The period a renewal (or a failed one) opens at ``now``: from the end of the current
    one if it is over, else from now (the sandbox ends the current period early)."""
    end = row.current_period_end
    start = end if end is not None and end <= now else now
    return start, add_month(start)


def _require(row: AnyRow, allowed: tuple[SubscriptionStatus, ...], why: str) -> None:
    if row.status not in {status.value for status in allowed}:
        raise Conflict(f"subscription {row.id} is {row.status}: {why}")


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
    free_trial: FreeTrial | None = None

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
        free_trial=_free_trial(row),
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
        expires_at=row.expires_at,
        created_at=row.created_at,
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
                    free_trial_interval=request.free_trial.interval.value if request.free_trial else None,
                    free_trial_count=request.free_trial.count if request.free_trial else None,
                )
            )
        return Checkout(id=checkout_id, url=self.checkout_url(checkout_id))

    def get_checkout(self, checkout_id: str) -> CheckoutInfo:
        with self._reading() as connection:
            return _checkout_info(self._checkout_row(connection, checkout_id))

    def expire_checkout(self, checkout_id: str, at: dt.datetime) -> None:
        with self._writing() as connection:
            row = self._checkout_row(connection, checkout_id, for_update=True)
            if row.status == CheckoutStatus.PAID.value:
                raise GatewayError(f"checkout {checkout_id} is paid and cannot be changed", status=422)
            connection.execute(update(_checkouts).where(_checkouts.c.id == checkout_id).values(expires_at=at))

    def list_checkouts(self, since: dt.datetime, *, limit: int = 500) -> Sequence[CheckoutInfo]:
        query = (
            select(_checkouts)
            .where(_checkouts.c.created_at >= since)
            .order_by(_checkouts.c.created_at.desc(), _checkouts.c.id)
            .limit(limit)
        )
        with self._reading() as connection:
            return [_checkout_info(row) for row in connection.execute(query)]

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
                # A free trial is the first period: the first charge falls when it ends.
                trial = _free_trial(row)
                first_end = trial_end(now, trial) if trial is not None else add_month(now)
                connection.execute(
                    insert(_subscriptions).values(
                        id=paymentable[1],
                        checkout_id=checkout_id,
                        status=SubscriptionStatus.ACTIVE.value,
                        current_period_start=now,
                        current_period_end=first_end,
                        next_payment_attempt_at=first_end,
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
        if info.paymentable_type != SUBSCRIPTION_PAYMENTABLE or info.paymentable_id is None:
            return [payment]
        now = self.clock.now()
        created = subscription_event_payload(
            info.paymentable_id,
            SUBSCRIPTION_CREATED,
            created_at=now,
            customer_email=customer_email,
            customer_name=customer_name,
            payment_id=info.payment_id,
        )
        return [payment, self._signed(SUBSCRIPTION_CREATED, created, now)]

    # --- simulating the provider's side of a subscription -------------------------------------
    #
    # Each method changes a sandbox subscription the way Recurrente would (the rules of
    # ``webmagic_core.testing.subscriptions.ProviderSimulator``) and returns the signed
    # webhooks it would send about the change, in order, for the caller to deliver
    # (``deliver_over_http`` / ``deliver_in_process``; ``webmagic sandbox ...``). A change
    # the provider would not make in the subscription's status is a ``Conflict`` (nothing
    # changes); an unknown id is ``GatewayNotFound``. ``get_subscription`` reports the
    # new state at once.
    #
    # Time: the provider renews (or fails to renew) when a period ends. A sandbox cannot
    # wait a month, so a renewal or failure simulated before the current period's end
    # ends that period now, and the next one runs a month from now; simulated at or after
    # its end (a clock moved on), the next period starts where the last one ended.

    def renew(self, subscription_id: str) -> list[SandboxWebhook]:
        """The period ends and the renewal is charged: a new, paid period of a month.
        Only an active subscription renews. Sends ``payment_intent.succeeded`` (a payment
        of the ``su_...``, naming no checkout)."""
        now = self.clock.now()
        with self._writing() as connection:
            row = self._subscription_row(connection, subscription_id, for_update=True)
            _require(
                row,
                (SubscriptionStatus.ACTIVE,),
                "only an active subscription renews (a past_due one recovers)",
            )
            amount = self._price(connection, row)
            start, end = _next_period(row, now)
            self._update_subscription(
                connection,
                subscription_id,
                now,
                status=SubscriptionStatus.ACTIVE,
                current_period_start=start,
                current_period_end=end,
                next_payment_attempt_at=end,
            )
        return [self._subscription_payment(row, amount, now)]

    def fail(self, subscription_id: str, *, reason: str = DECLINED) -> list[SandboxWebhook]:
        """The renewal charge fails. For an active subscription the provider opens the next
        period unpaid and makes it past_due (sends ``payment_intent.failed`` and
        ``subscription.past_due``); for a past_due one, a retry fails (sends
        ``payment_intent.failed``). Either way the next attempt is 3 days later."""
        now = self.clock.now()
        with self._writing() as connection:
            row = self._subscription_row(connection, subscription_id, for_update=True)
            _require(row, BILLED, "only an active or past_due subscription is charged")
            amount = self._price(connection, row)
            retry_at = now + RETRY_AFTER
            opening = row.status == SubscriptionStatus.ACTIVE.value
            if opening:
                start, end = _next_period(row, now)
                self._update_subscription(
                    connection,
                    subscription_id,
                    now,
                    status=SubscriptionStatus.PAST_DUE,
                    current_period_start=start,
                    current_period_end=end,
                    next_payment_attempt_at=retry_at,
                )
            else:
                self._update_subscription(connection, subscription_id, now, next_payment_attempt_at=retry_at)
        webhooks = [self._subscription_payment(row, amount, now, failure_reason=reason)]
        if opening:
            webhooks.append(self._subscription_event(row, SUBSCRIPTION_PAST_DUE, now))
        return webhooks

    def recover(self, subscription_id: str) -> list[SandboxWebhook]:
        """A retry of a past_due subscription is paid: active again, for the period the
        failed renewal opened. Sends ``payment_intent.succeeded``."""
        now = self.clock.now()
        with self._writing() as connection:
            row = self._subscription_row(connection, subscription_id, for_update=True)
            _require(row, (SubscriptionStatus.PAST_DUE,), "only a past_due subscription recovers")
            amount = self._price(connection, row)
            self._update_subscription(
                connection,
                subscription_id,
                now,
                status=SubscriptionStatus.ACTIVE,
                next_payment_attempt_at=row.current_period_end,
            )
        return [self._subscription_payment(row, amount, now)]

    def cancel(self, subscription_id: str) -> list[SandboxWebhook]:
        """Cancelled at the provider (by the customer there, an operator, or after the
        retries ran out): no more charges. Sends ``subscription.cancel``. (The port's
        ``cancel_subscription``, which the app calls, does the same without a webhook.)"""
        now = self.clock.now()
        with self._writing() as connection:
            row = self._subscription_row(connection, subscription_id, for_update=True)
            _require(
                row,
                (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.PAUSED),
                "it has ended already",
            )
            self._update_subscription(
                connection,
                subscription_id,
                now,
                status=SubscriptionStatus.CANCELLED,
                next_payment_attempt_at=None,
            )
        return [self._subscription_event(row, SUBSCRIPTION_CANCELLED, now)]

    def pause(self, subscription_id: str, *, event_type: str = "subscription.pause") -> list[SandboxWebhook]:
        """Paused at the provider: no charges while paused. Sends ``event_type``
        (``subscription.pause`` or ``subscription.paused``: Recurrente documents both)."""
        if event_type not in PAUSE_EVENTS:
            raise ValueError(f"a pause is announced as one of {', '.join(PAUSE_EVENTS)}, not {event_type!r}")
        now = self.clock.now()
        with self._writing() as connection:
            row = self._subscription_row(connection, subscription_id, for_update=True)
            _require(row, BILLED, "only an active or past_due subscription can be paused")
            self._update_subscription(
                connection,
                subscription_id,
                now,
                status=SubscriptionStatus.PAUSED,
                next_payment_attempt_at=None,
            )
        return [self._subscription_event(row, event_type, now)]

    def unpause(
        self, subscription_id: str, *, event_type: str = "subscription.unpause"
    ) -> list[SandboxWebhook]:
        """Unpaused (or reactivated): active again for the period the provider reports.
        Sends ``event_type`` (``subscription.unpause`` or ``subscription.reactivate``)."""
        if event_type not in UNPAUSE_EVENTS:
            raise ValueError(
                f"an unpause is announced as one of {', '.join(UNPAUSE_EVENTS)}, not {event_type!r}"
            )
        now = self.clock.now()
        with self._writing() as connection:
            row = self._subscription_row(connection, subscription_id, for_update=True)
            _require(row, (SubscriptionStatus.PAUSED,), "only a paused subscription can be unpaused")
            self._update_subscription(
                connection,
                subscription_id,
                now,
                status=SubscriptionStatus.ACTIVE,
                next_payment_attempt_at=row.current_period_end,
            )
        return [self._subscription_event(row, event_type, now)]

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
    def _update_subscription(
        connection: Connection, subscription_id: str, now: dt.datetime, **values: Any
    ) -> None:
        connection.execute(
            update(_subscriptions)
            .where(_subscriptions.c.id == subscription_id)
            .values(updated_at=now, **values)
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

    def _subscription_payment(
        self, row: AnyRow, amount: Money, now: dt.datetime, *, failure_reason: str | None = None
    ) -> SandboxWebhook:
        event_type = PAYMENT_SUCCEEDED if failure_reason is None else PAYMENT_FAILED
        payload = subscription_payment_payload(
            row.id,
            _new_id("pa"),
            created_at=now,
            amount=amount,
            customer_email=row.customer_email,
            event_type=event_type,
            failure_reason=failure_reason,
        )
        return self._signed(event_type, payload, now)

    def _subscription_event(self, row: AnyRow, event_type: str, now: dt.datetime) -> SandboxWebhook:
        payload = subscription_event_payload(
            row.id, event_type, created_at=now, customer_email=row.customer_email
        )
        return self._signed(event_type, payload, now)

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
    webhooks: Iterable[SandboxWebhook], verifier: WebhookVerifier, service: WebhookService
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
