"""The payment provider (Recurrente) as one pure model: its state, its rules, its payloads.

Three imitations of the provider wrap this model and add only what is theirs: the fake
gateway of the in-memory test worlds (``webmagic_core.testing.payments``, which may import
this module: see tests/architecture), the DB-backed sandbox (``sandbox``: storage, signing,
delivery) and the HTTP imitation (``imitation``: Recurrente's wire format and faults).
What they share is here, once:

- ids (``new_id``) and the first period's end (a month, or the free trial);
- what ``POST /checkouts`` accepts (``request_problems``: a 422 when refused) and what a
  checkout becomes when paid (``ProviderCheckout``);
- the subscription machine (``renew``, ``fail``, ``recover``, ``cancel``, ``pause``,
  ``unpause``, ``unable_to_start``): which change the provider makes from which status,
  and which webhooks it sends about it (``Move``);
- the webhook bodies in the provider's top-level shape (docs/payments.md: every field at
  the top level, no ``data`` envelope).

No I/O: times come in as arguments, ids are drawn with ``secrets``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import attrs

from webmagic_adapters.payments.recurrente_events import (
    ONE_TIME_PAYMENTABLE,
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    SUBSCRIPTION_PAYMENTABLE,
)
from webmagic_core.errors import Conflict
from webmagic_core.money import Money
from webmagic_core.payments.gateway import (
    CheckoutInfo,
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    FreeTrial,
    GatewayError,
    GatewayNotFound,
    SubscriptionInfo,
    SubscriptionStatus,
    add_months,
    trial_end,
)

API_VERSION = "2024-04-24"
CURRENCIES = frozenset({"USD", "GTQ"})
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
HOSTING_PRODUCT = "prod_hosting"
# After a failed charge the provider tries again this much later.
RETRY_AFTER = dt.timedelta(days=3)
SUBSCRIPTION_CREATED = "subscription.create"
SUBSCRIPTION_PAST_DUE = "subscription.past_due"
SUBSCRIPTION_CANCELLED = "subscription.cancel"
SUBSCRIPTION_UNABLE_TO_START = "subscription.unable_to_start"
# Recurrente documents two names for each of these.
PAUSE_EVENTS = ("subscription.pause", "subscription.paused")
UNPAUSE_EVENTS = ("subscription.unpause", "subscription.reactivate")
REACTIVATE = "subscription.reactivate"

# How long a subscription's period lasts, from its start.
Period = Callable[[dt.datetime], dt.datetime]


def new_id(prefix: str, *, tag: str | None = None, hex_digits: int = 24) -> str:
    """A provider id: ``ch_9f2c...``, or ``ch_sandbox_9f2c...`` with a ``tag``."""
    random = secrets.token_hex(hex_digits // 2)
    return f"{prefix}_{tag}_{random}" if tag else f"{prefix}_{random}"


def add_month(value: dt.datetime) -> dt.datetime:
    """The same day of the next month (its last day when it has fewer days)."""
    return add_months(value, 1)


def first_period_end(start: dt.datetime, trial: FreeTrial | None, period: Period = add_month) -> dt.datetime:
    """A free trial is the first period: the first charge falls when it ends."""
    return trial_end(start, trial) if trial is not None else period(start)


# --- checkouts -----------------------------------------------------------------------------


def _check_url(name: str, url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        return f"{name} must be an absolute http(s) URL"
    return None


def request_problems(request: CheckoutRequest, now: dt.datetime) -> list[str]:
    """What the provider would refuse in ``request`` (empty when it is acceptable)."""
    problems = [
        p
        for p in (
            _check_url("success_url", request.success_url),
            _check_url("cancel_url", request.cancel_url),
        )
        if p
    ]
    if not request.item_name.strip():
        problems.append("the item needs a name")
    if request.amount.amount_in_cents <= 0:
        problems.append("amount_in_cents must be positive")
    if request.amount.currency not in CURRENCIES:
        problems.append(f"currency must be one of {', '.join(sorted(CURRENCIES))}")
    if len(request.metadata) > MAX_METADATA_KEYS:
        problems.append(f"metadata holds at most {MAX_METADATA_KEYS} keys")
    for key, value in request.metadata.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            problems.append(f"metadata key {key[:50]!r} must be 1-{MAX_METADATA_KEY_LENGTH} characters")
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            problems.append(f"metadata value of {key[:50]!r} exceeds {MAX_METADATA_VALUE_LENGTH} characters")
    if request.expires_at is not None and (
        request.expires_at.utcoffset() is None or request.expires_at <= now
    ):
        problems.append("expires_at must be a timezone-aware time in the future")
    if request.free_trial is not None and request.kind is not CheckoutKind.MONTHLY:
        problems.append("only a recurring item can have a free trial")
    return problems


@attrs.frozen
class ProviderCheckout:
    """A checkout as the provider keeps it (and as a hosted checkout page shows it)."""

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
    paid_at: dt.datetime | None = None
    payment_id: str | None = None
    free_trial: FreeTrial | None = None
    # What the payment paid for: a ``Subscription`` (su_...) or a ``OneTimePayment`` (on_...).
    paymentable_type: str | None = None
    paymentable_id: str | None = None

    @classmethod
    def open(
        cls, checkout_id: str, request: CheckoutRequest, now: dt.datetime, *, by: str
    ) -> ProviderCheckout:
        """The checkout ``POST /checkouts`` creates; a 422 ``GatewayError`` when ``by`` (the
        provider, the sandbox) refuses the request."""
        problems = request_problems(request, now)
        if problems:
            raise GatewayError(f"{by} refused the checkout: " + "; ".join(problems), status=422)
        return cls(
            id=checkout_id,
            kind=request.kind,
            item_name=request.item_name,
            description=request.description,
            amount=request.amount,
            success_url=request.success_url,
            cancel_url=request.cancel_url,
            metadata=dict(request.metadata),
            status=CheckoutStatus.UNPAID,
            created_at=now,
            expires_at=request.expires_at,
            free_trial=request.free_trial,
        )

    @property
    def subscription_id(self) -> str | None:
        return self.paymentable_id if self.paymentable_type == SUBSCRIPTION_PAYMENTABLE else None

    def expired(self, now: dt.datetime) -> bool:
        return (
            self.status is not CheckoutStatus.PAID and self.expires_at is not None and now >= self.expires_at
        )

    def is_open(self, now: dt.datetime) -> bool:
        """Whether a buyer could still pay it now."""
        return self.status is not CheckoutStatus.PAID and not self.expired(now)

    def check_payable(self, now: dt.datetime) -> None:
        """``Conflict`` when the hosted page would take no payment (paid, or expired)."""
        if self.status is CheckoutStatus.PAID:
            raise Conflict(f"checkout {self.id} is paid already")
        if self.expired(now):
            assert self.expires_at is not None
            raise Conflict(f"checkout {self.id} expired at {self.expires_at.isoformat()}")

    def expiring(self, at: dt.datetime) -> ProviderCheckout:
        """``PATCH /checkouts/{id}`` with a new ``expires_at``: a paid checkout is a 422."""
        if self.status is CheckoutStatus.PAID:
            raise GatewayError(f"checkout {self.id} is paid and cannot be changed", status=422)
        return attrs.evolve(self, expires_at=at)

    def paid(self, now: dt.datetime, *, payment_id: str, paymentable_id: str) -> ProviderCheckout:
        """Paid by ``payment_id``: a monthly checkout's payment is a subscription's."""
        monthly = self.kind is CheckoutKind.MONTHLY
        return attrs.evolve(
            self,
            status=CheckoutStatus.PAID,
            paid_at=now,
            payment_id=payment_id,
            paymentable_type=SUBSCRIPTION_PAYMENTABLE if monthly else ONE_TIME_PAYMENTABLE,
            paymentable_id=paymentable_id,
        )

    def info(self) -> CheckoutInfo:
        """What ``GET /checkouts/{id}`` reports."""
        return CheckoutInfo(
            id=self.id,
            status=self.status,
            amount=self.amount,
            live_mode=False,
            metadata=dict(self.metadata),
            payment_id=self.payment_id,
            subscription_id=self.subscription_id,
            expires_at=self.expires_at,
            created_at=self.created_at,
        )


def check_refund(payment_id: str, *, paid: bool, refunded: bool, by: str) -> None:
    """``POST /refunds``: a 404 for a payment ``by`` (the provider, the sandbox) never took,
    a 422 for a second refund of one."""
    if not paid:
        raise GatewayNotFound(f"{by} has no payment {payment_id[:80]!r}", status=404)
    if refunded:
        raise already_refunded(payment_id)


def already_refunded(payment_id: str) -> GatewayError:
    return GatewayError(f"payment {payment_id[:80]} is already refunded", status=422)


def started_subscription(
    checkout: ProviderCheckout,
    now: dt.datetime,
    *,
    customer_email: str | None = None,
    period: Period = add_month,
) -> SubscriptionInfo:
    """The active subscription a paid monthly ``checkout`` starts at ``now``, for its first
    period (or its free trial)."""
    assert checkout.subscription_id is not None, "only a paid monthly checkout starts a subscription"
    end = first_period_end(now, checkout.free_trial, period)
    return SubscriptionInfo(
        id=checkout.subscription_id,
        status=SubscriptionStatus.ACTIVE,
        current_period_start=now,
        current_period_end=end,
        next_payment_attempt_at=end,
        checkout_id=checkout.id,
        customer_email=customer_email,
    )


# --- the subscription machine ----------------------------------------------------------------
#
# Each change returns a ``Move``: the subscription after it, and the webhooks the provider
# sends about it (a payment first, then a ``subscription.*`` announcement). A change the
# provider would not make from the subscription's status is a ``Conflict``.
#
# Time: the provider renews (or fails to renew) when a period ends. A renewal or failure at
# or after the current period's end opens the next period where the last one ended; one
# made before it (a sandbox cannot wait a month) ends the current period now.

BILLED = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE, SubscriptionStatus.PAUSED)


@attrs.frozen
class Move:
    subscription: SubscriptionInfo
    # The charge made: True paid, False declined, None no charge.
    charge: bool | None = None
    # The ``subscription.*`` event announcing the change, if any.
    announce: str | None = None


def _require(subscription: SubscriptionInfo, allowed: tuple[SubscriptionStatus, ...], why: str) -> None:
    if subscription.status not in allowed:
        raise Conflict(f"subscription {subscription.id} is {subscription.status.value}: {why}")


def _next_period(
    subscription: SubscriptionInfo,
    now: dt.datetime,
    period: Period,
    status: SubscriptionStatus,
    next_attempt: dt.datetime | None = None,
) -> SubscriptionInfo:
    """The next period opened at ``now``, from the end of the current one if it is over,
    else from now; charged again at its end unless ``next_attempt`` says otherwise."""
    end = subscription.current_period_end
    start = end if end is not None and end <= now else now
    return attrs.evolve(
        subscription,
        status=status,
        current_period_start=start,
        current_period_end=period(start),
        next_payment_attempt_at=next_attempt or period(start),
    )


def renew(subscription: SubscriptionInfo, now: dt.datetime, *, period: Period = add_month) -> Move:
    """The period ends and the renewal is charged: a new, paid period."""
    _require(
        subscription,
        (SubscriptionStatus.ACTIVE,),
        "only an active subscription renews (a past_due one recovers)",
    )
    return Move(_next_period(subscription, now, period, SubscriptionStatus.ACTIVE), charge=True)


def fail(subscription: SubscriptionInfo, now: dt.datetime, *, period: Period = add_month) -> Move:
    """The renewal charge fails. An active subscription's next period opens unpaid and it
    becomes past_due (announced); a past_due one's retry fails. The next try is 3 days later."""
    _require(subscription, BILLED, "only an active or past_due subscription is charged")
    retry_at = now + RETRY_AFTER
    if subscription.status is SubscriptionStatus.PAST_DUE:
        return Move(attrs.evolve(subscription, next_payment_attempt_at=retry_at), charge=False)
    failed = _next_period(subscription, now, period, SubscriptionStatus.PAST_DUE, retry_at)
    return Move(failed, charge=False, announce=SUBSCRIPTION_PAST_DUE)


def recover(subscription: SubscriptionInfo) -> Move:
    """A retry of a past_due subscription is paid: active again, for the period the failed
    renewal opened."""
    _require(subscription, (SubscriptionStatus.PAST_DUE,), "only a past_due subscription recovers")
    recovered = attrs.evolve(
        subscription,
        status=SubscriptionStatus.ACTIVE,
        next_payment_attempt_at=subscription.current_period_end,
    )
    return Move(recovered, charge=True)


def cancel(subscription: SubscriptionInfo, *, announce_api_cancel: bool = False) -> Move:
    """Cancelled at the provider (by the customer there, an operator, or after the retries
    ran out): no more charges. ``announce_api_cancel``: a subscription the app cancelled
    through the API (which sends nothing) gets the ``subscription.cancel`` the provider
    sends about it afterwards, instead of a ``Conflict``."""
    if not (announce_api_cancel and subscription.status is SubscriptionStatus.CANCELLED):
        _require(subscription, LIVE, "it has ended already")
    return Move(cancelled(subscription), announce=SUBSCRIPTION_CANCELLED)


def cancelled(subscription: SubscriptionInfo) -> SubscriptionInfo:
    """The API's cancel: idempotent, and it sends no webhook."""
    if subscription.status is SubscriptionStatus.CANCELLED:
        return subscription
    return attrs.evolve(subscription, status=SubscriptionStatus.CANCELLED, next_payment_attempt_at=None)


def pause(subscription: SubscriptionInfo, *, event_type: str = PAUSE_EVENTS[0]) -> Move:
    """Paused: no charges while paused."""
    if event_type not in PAUSE_EVENTS:
        raise ValueError(f"a pause is announced as one of {', '.join(PAUSE_EVENTS)}, not {event_type!r}")
    _require(subscription, BILLED, "only an active or past_due subscription can be paused")
    paused = attrs.evolve(subscription, status=SubscriptionStatus.PAUSED, next_payment_attempt_at=None)
    return Move(paused, announce=event_type)


def unpause(subscription: SubscriptionInfo, *, event_type: str = UNPAUSE_EVENTS[0]) -> Move:
    """Unpaused (or reactivated, which a cancelled subscription may be too): active again
    for the period the provider reports."""
    if event_type not in UNPAUSE_EVENTS:
        raise ValueError(f"an unpause is announced as one of {', '.join(UNPAUSE_EVENTS)}, not {event_type!r}")
    allowed: tuple[SubscriptionStatus, ...] = (SubscriptionStatus.PAUSED,)
    if event_type == REACTIVATE:
        allowed += (SubscriptionStatus.CANCELLED,)
    _require(subscription, allowed, "only a paused subscription can be unpaused")
    resumed = attrs.evolve(
        subscription,
        status=SubscriptionStatus.ACTIVE,
        next_payment_attempt_at=subscription.current_period_end,
    )
    return Move(resumed, announce=event_type)


def unable_to_start(subscription: SubscriptionInfo) -> Move:
    """The provider could not (re)start it (a resumed one whose charge is refused)."""
    _require(subscription, LIVE, "it has ended already")
    ended = attrs.evolve(
        subscription, status=SubscriptionStatus.UNABLE_TO_START, next_payment_attempt_at=None
    )
    return Move(ended, announce=SUBSCRIPTION_UNABLE_TO_START)


# --- webhook bodies --------------------------------------------------------------------------


@attrs.frozen
class Customer:
    """Who pays, as the provider names them in its webhooks."""

    email: str | None
    name: str | None = None
    id: str | None = None


def move_payloads(
    move: Move,
    now: dt.datetime,
    *,
    customer: Customer,
    amount: Money | None = None,
    payment_id: str | None = None,
    failure_reason: str = "card declined",
) -> list[dict[str, object]]:
    """The webhooks the provider sends about ``move``, in order (``amount`` and
    ``payment_id`` name the charge, when it made one)."""
    subscription = move.subscription
    bodies: list[dict[str, object]] = []
    if move.charge is not None:
        assert amount is not None, "a charge has an amount"
        assert payment_id is not None, "a charge has a payment"
        bodies.append(
            subscription_payment_payload(
                subscription.id,
                payment_id,
                created_at=now,
                amount=amount,
                customer_email=customer.email,
                customer_name=customer.name,
                customer_id=customer.id,
                event_type=PAYMENT_SUCCEEDED if move.charge else PAYMENT_FAILED,
                failure_reason=None if move.charge else failure_reason,
            )
        )
    if move.announce is not None:
        bodies.append(
            subscription_event_payload(
                subscription.id,
                move.announce,
                created_at=now,
                customer_email=customer.email,
                customer_name=customer.name,
                customer_id=customer.id,
            )
        )
    return bodies


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


def payment_payload(
    checkout: CheckoutInfo,
    *,
    event_type: str = PAYMENT_SUCCEEDED,
    customer_email: str = "buyer@example.com",
    customer_name: str | None = "Rosa Díaz",
    amount: Money | None = None,
    failure_reason: str | None = None,
    payment_id: str | None = None,
    created_at: dt.datetime | None = None,
    customer_id: str = "cus_fake",
    product_id: str = "prod_fake",
    invoice_id: str = "inv_fake",
    paymentable: tuple[str | None, str | None] | None = None,
    format_time: Callable[[dt.datetime], str] = _iso,
) -> dict[str, object]:
    """A ``payment_intent.*`` body in Recurrente's top-level shape (docs/payments.md) for the
    payment of ``checkout`` (as ``get_checkout`` reports it once paid). ``paymentable``
    (type, id) defaults to the checkout's subscription, or a new one-time payment."""
    amount = amount or checkout.amount or Money(0, "USD")
    if paymentable is None:
        paymentable = (
            (SUBSCRIPTION_PAYMENTABLE, checkout.subscription_id)
            if checkout.subscription_id is not None
            else (ONE_TIME_PAYMENTABLE, new_id("on"))
        )
    return {
        "id": payment_id or checkout.payment_id or new_id("pa"),
        "event_type": event_type,
        "api_version": API_VERSION,
        "created_at": format_time(created_at or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
        "amount_in_cents": amount.amount_in_cents,
        "currency": amount.currency,
        "failure_reason": failure_reason,
        "checkout": {"id": checkout.id, "status": checkout.status.value, "metadata": dict(checkout.metadata)},
        "customer": {"id": customer_id, "email": customer_email, "full_name": customer_name},
        "payment": {
            "id": payment_id or checkout.payment_id or "py_fake",
            "paymentable": {"type": paymentable[0], "id": paymentable[1]},
        },
        "product": {"id": product_id},
        "invoice": {"id": invoice_id, "tax_invoice_url": None},
    }


def subscription_event_payload(
    subscription_id: str,
    event_type: str,
    *,
    created_at: dt.datetime,
    customer_email: str | None,
    customer_name: str | None = None,
    customer_id: str | None = None,
    payment_id: str | None = None,
) -> dict[str, object]:
    """A ``subscription.*`` body (``create``, ``past_due``, ``cancel``, ``pause``...):
    the subscription's fields at the top level, and no checkout or metadata."""
    return {
        "id": subscription_id,
        "event_type": event_type,
        "api_version": API_VERSION,
        "created_at": created_at.isoformat(),
        "customer_email": customer_email,
        "customer_id": customer_id,
        "customer_name": customer_name,
        "payment": {"id": payment_id} if payment_id else None,
        "product": {"id": HOSTING_PRODUCT},
    }


def subscription_payment_payload(
    subscription_id: str,
    payment_id: str,
    *,
    created_at: dt.datetime,
    amount: Money,
    customer_email: str | None,
    customer_name: str | None = None,
    customer_id: str | None = None,
    event_type: str = PAYMENT_SUCCEEDED,
    failure_reason: str | None = None,
    checkout_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """A ``payment_intent.*`` body for a payment of a subscription (``paymentable`` is the
    ``su_...``). Only the first payment, made at the checkout, names the checkout (and its
    metadata); renewals and retries carry none and must be matched by the ``su_...`` id."""
    body: dict[str, object] = {
        "id": payment_id,
        "event_type": event_type,
        "api_version": API_VERSION,
        "created_at": created_at.isoformat(),
        "amount_in_cents": amount.amount_in_cents,
        "currency": amount.currency,
        "failure_reason": failure_reason,
        "customer": {"id": customer_id, "email": customer_email, "full_name": customer_name},
        "payment": {
            "id": payment_id,
            "paymentable": {"type": SUBSCRIPTION_PAYMENTABLE, "id": subscription_id},
        },
        "product": {"id": HOSTING_PRODUCT},
    }
    if checkout_id is not None:
        body["checkout"] = {"id": checkout_id, "status": "paid", "metadata": dict(metadata or {})}
    return body
