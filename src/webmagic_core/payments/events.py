"""Recurrente webhook payloads, parsed with the stdlib into typed events.

Two shapes are accepted: Recurrente's own, with every field at the top level
(``{"id": "pa_...", "event_type": "payment_intent.succeeded", "checkout": {...}, ...}``,
see docs/payments.md), and the Standard Webhooks envelope (``{"type": ..., "data": {...}}``)
whose ``data`` holds those fields. Within them, the alternative names the sources use
(``event_type``/``type``, ``checkout.id``/``checkout_id``, ``customer.email``/
``customer_email``...) are all read.

Tolerant of what is optional, strict about what is needed: a body that is not a JSON
object is ``UnreadableWebhook`` (the delivery is refused, nothing stored); an object that
lacks what its type needs (a payment with no amount, nothing to match it to a purchase...)
is ``MalformedEvent``, which the webhook service stores as an anomaly. A succeeded or
failed bank transfer is read as the card payment event of the same outcome. Other types
(``bank_transfer_intent.pending``, ``refund.create``, ``dispute.*``, the newer unified
``intent.*`` sent alongside the legacy events) become ``UnknownEvent``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs

from webmagic_core.errors import ValidationError
from webmagic_core.money import Money
from webmagic_core.payments.gateway import CheckoutInfo

PAYMENT_SUCCEEDED = "payment_intent.succeeded"
PAYMENT_FAILED = "payment_intent.failed"
# A bank transfer is paid (or fails) like a card: the same fields, the same handling.
BANK_TRANSFER_SUCCEEDED = "bank_transfer_intent.succeeded"
BANK_TRANSFER_FAILED = "bank_transfer_intent.failed"
_AS_PAYMENT = {BANK_TRANSFER_SUCCEEDED: PAYMENT_SUCCEEDED, BANK_TRANSFER_FAILED: PAYMENT_FAILED}
SUBSCRIPTION_PREFIX = "subscription."
SUBSCRIPTION_PAYMENTABLE = "Subscription"
ONE_TIME_PAYMENTABLE = "OneTimePayment"
# Keys that only Recurrente's top-level shape has: their presence means "not an envelope".
_TOP_LEVEL_MARKERS = ("checkout", "checkout_id", "amount_in_cents", "customer", "payment", "customer_email")


class UnreadableWebhook(ValidationError):
    """The body is not a UTF-8 JSON object: nothing can be stored or acted on (400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="body")


class MalformedEvent(ValidationError):
    """A JSON object that lacks what its event type needs."""

    def __init__(self, event_type: str, problems: Sequence[str]) -> None:
        self.event_type = event_type
        self.problems = tuple(problems)
        what = f"the {event_type} event" if event_type else "the event"
        super().__init__(f"{what} is malformed: " + "; ".join(self.problems), field="body")


def _metadata(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    found: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, str):
            found[str(key)] = item
        elif isinstance(item, int | float) and not isinstance(item, bool):
            found[str(key)] = str(item)
    return found


@attrs.frozen
class _Payment:
    """What both payment-intent events carry."""

    checkout_id: str | None
    metadata: Mapping[str, str]
    payment_id: str | None  # pa_...
    customer_email: str | None
    customer_name: str | None
    paymentable_type: str | None  # "OneTimePayment" | "Subscription"
    paymentable_id: str | None  # on_... | su_...
    created_at: dt.datetime | None

    @property
    def purchase_id(self) -> uuid.UUID | None:
        """The purchase named in the checkout's metadata, if it names one well-formed."""
        try:
            return uuid.UUID(self.metadata.get("purchase_id", ""))
        except ValueError:
            return None

    @property
    def for_subscription(self) -> bool:
        return self.paymentable_type == SUBSCRIPTION_PAYMENTABLE


@attrs.frozen
class PaymentIntentSucceeded(_Payment):
    amount: Money
    event_type: ClassVar[str] = PAYMENT_SUCCEEDED

    @classmethod
    def from_checkout(cls, info: CheckoutInfo) -> PaymentIntentSucceeded:
        """The event a paid checkout stands for (reconciliation); ``MalformedEvent`` when
        the provider reported no amount, which the check against the purchase needs."""
        if info.amount is None:
            raise MalformedEvent(PAYMENT_SUCCEEDED, [f"checkout {info.id} is paid but reports no amount"])
        return cls(
            checkout_id=info.id,
            metadata=dict(info.metadata),
            payment_id=info.payment_id,
            customer_email=None,
            customer_name=None,
            paymentable_type=info.paymentable_type,
            paymentable_id=info.paymentable_id,
            created_at=None,
            amount=info.amount,
        )


@attrs.frozen
class PaymentIntentFailed(_Payment):
    amount: Money | None
    failure_reason: str | None
    event_type: ClassVar[str] = PAYMENT_FAILED


@attrs.frozen
class SubscriptionEvent:
    """``subscription.*`` (create, past_due, cancel, pause/paused, unpause, reactivate,
    update): parsed for the subscriptions issue; ``fields`` keeps everything sent."""

    event_type: str
    subscription_id: str  # su_...
    created_at: dt.datetime | None
    customer_email: str | None
    customer_id: str | None
    customer_name: str | None
    payment_id: str | None
    fields: Mapping[str, object] = attrs.field(eq=False, repr=False)


@attrs.frozen
class UnknownEvent:
    event_type: str
    fields: Mapping[str, object] = attrs.field(eq=False, repr=False)


PaymentEvent = PaymentIntentSucceeded | PaymentIntentFailed | SubscriptionEvent | UnknownEvent


def load_payload(body: bytes) -> dict[str, object]:
    """The body as a JSON object, or ``UnreadableWebhook``."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableWebhook("the body is not UTF-8 text") from None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise UnreadableWebhook("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise UnreadableWebhook(f"the body is a JSON {type(payload).__name__}, not an object")
    return payload


def event_type_of(payload: Mapping[str, object]) -> str:
    """The event type a payload names, in either shape ("" when none)."""
    return _unwrap(payload)[0]


def parse_event(body: bytes) -> PaymentEvent:
    """``load_payload`` then ``event_from_payload``."""
    return event_from_payload(load_payload(body))


def event_from_payload(payload: Mapping[str, object]) -> PaymentEvent:
    event_type, fields = _unwrap(payload)
    if not event_type:
        raise MalformedEvent("", ["it names no event type (event_type or type)"])
    read = _Reader(fields)
    if event_type in (PAYMENT_SUCCEEDED, PAYMENT_FAILED):
        return _payment_event(event_type, read)
    if event_type in _AS_PAYMENT:
        return _payment_event(_AS_PAYMENT[event_type], read)
    if event_type.startswith(SUBSCRIPTION_PREFIX):
        subscription_id = read.text("id", "subscription.id", "subscription_id")
        if subscription_id is None:
            raise MalformedEvent(event_type, ["missing the subscription id (id)"])
        return SubscriptionEvent(
            event_type=event_type,
            subscription_id=subscription_id,
            created_at=read.time("created_at"),
            customer_email=read.text("customer_email", "customer.email", "subscriber.email"),
            customer_id=read.text("customer_id", "customer.id", "subscriber.id"),
            customer_name=read.text("customer_name", "customer.full_name", "subscriber.full_name"),
            payment_id=read.text("payment.id"),
            fields=dict(fields),
        )
    return UnknownEvent(event_type=event_type, fields=dict(fields))


def _unwrap(payload: Mapping[str, object]) -> tuple[str, Mapping[str, object]]:
    fields: Mapping[str, object] = payload
    data = payload.get("data")
    if isinstance(data, Mapping) and not any(key in payload for key in _TOP_LEVEL_MARKERS):
        fields = data
    for key, source in (("event_type", payload), ("event_type", fields), ("type", payload), ("type", fields)):
        value = source.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip(), fields
    return "", fields


def _payment_event(event_type: str, read: _Reader) -> PaymentIntentSucceeded | PaymentIntentFailed:
    problems: list[str] = []
    metadata = _metadata(read.value("checkout.metadata")) or _metadata(read.value("metadata"))
    checkout_id = read.text("checkout.id", "checkout_id")
    payment_id = read.text("id", "payment_intent.id", "payment.id")
    customer_email = read.text("customer.email", "customer_email")
    customer_name = read.text("customer.full_name", "customer_name", "customer.name")
    paymentable_type = read.text("payment.paymentable.type", "paymentable.type")
    paymentable_id = read.text("payment.paymentable.id", "paymentable.id")
    created_at = read.time("created_at")
    if checkout_id is None and "purchase_id" not in metadata and paymentable_id is None:
        problems.append("nothing to match it with: no checkout.id, metadata.purchase_id or paymentable id")
    amount, money_problems = read.money()
    if event_type == PAYMENT_FAILED:
        if problems:
            raise MalformedEvent(event_type, problems)
        return PaymentIntentFailed(
            checkout_id=checkout_id,
            metadata=metadata,
            payment_id=payment_id,
            customer_email=customer_email,
            customer_name=customer_name,
            paymentable_type=paymentable_type,
            paymentable_id=paymentable_id,
            created_at=created_at,
            amount=amount,  # optional here: a failed payment moves no money
            failure_reason=read.text("failure_reason", "failure.reason", "error.message"),
        )
    problems.extend(money_problems)
    if problems or amount is None:
        raise MalformedEvent(event_type, problems)
    return PaymentIntentSucceeded(
        checkout_id=checkout_id,
        metadata=metadata,
        payment_id=payment_id,
        customer_email=customer_email,
        customer_name=customer_name,
        paymentable_type=paymentable_type,
        paymentable_id=paymentable_id,
        created_at=created_at,
        amount=amount,
    )


@attrs.define
class _Reader:
    fields: Mapping[str, object]

    def value(self, path: str) -> object:
        current: object = self.fields
        for part in path.split("."):
            if not isinstance(current, Mapping):
                return None
            current = current.get(part)
        return current

    def text(self, *paths: str) -> str | None:
        """The first non-blank string (or integer, as text) at any of ``paths``."""
        for path in paths:
            value = self.value(path)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    def time(self, path: str) -> dt.datetime | None:
        value = self.value(path)
        try:
            if isinstance(value, str):
                parsed = dt.datetime.fromisoformat(value.strip())
            elif isinstance(value, int | float) and not isinstance(value, bool):
                parsed = dt.datetime.fromtimestamp(value, tz=dt.UTC)
            else:
                return None
        except (ValueError, OverflowError, OSError):
            return None
        return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=dt.UTC)

    def money(self) -> tuple[Money | None, list[str]]:
        """The amount paid, or None and what is wrong with it."""
        cents = self.value("amount_in_cents")
        if cents is None:
            cents = self.value("total_in_cents")
        currency = self.text("currency")
        if isinstance(cents, float) and cents.is_integer():
            cents = int(cents)
        if not isinstance(cents, int) or isinstance(cents, bool) or cents < 0:
            return None, ["amount_in_cents must be a whole number of cents"]
        if currency is None:
            return None, ["missing currency"]
        try:
            return Money(cents, currency.upper()), []
        except ValidationError as error:
            return None, [error.detail]
