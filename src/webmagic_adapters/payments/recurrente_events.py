"""Recurrente's webhook bodies read as the core's payment events (``PaymentEventTranslator``).

Two shapes are accepted: Recurrente's own, with every field at the top level
(``{"id": "pa_...", "event_type": "payment_intent.succeeded", "checkout": {...}, ...}``,
see docs/payments.md), and the Standard Webhooks envelope (``{"type": ..., "data": {...}}``)
whose ``data`` holds those fields. Within them, the alternative names the sources use
(``event_type``/``type``, ``checkout.id``/``checkout_id``, ``customer.email``/
``customer_email``...) are all read.

``payment_intent.succeeded``/``failed`` (and the bank transfer ones, paid or failed like a
card) become ``PaymentSucceeded``/``PaymentFailed`` (a payment of a subscription when its
``paymentable.type`` is ``Subscription``); ``subscription.*`` becomes
``SubscriptionChanged``; ``refund.create`` and ``dispute.*`` become ``MoneyReturned``;
any other type (``bank_transfer_intent.pending``, the newer unified ``intent.*`` sent
alongside the legacy events...) is an ``OtherEvent``.

Pure (stdlib, attrs and the core): the test worlds of ``webmagic_core.testing`` use it too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

import attrs

from webmagic_core.errors import ValidationError
from webmagic_core.money import Money
from webmagic_core.payments.events import (
    MalformedEvent,
    MoneyReturned,
    MoneyReturnedKind,
    OtherEvent,
    PaymentEvent,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionChange,
    SubscriptionChanged,
    UnreadableWebhook,
)

PAYMENT_SUCCEEDED = "payment_intent.succeeded"
PAYMENT_FAILED = "payment_intent.failed"
# A bank transfer is paid (or fails) like a card: the same fields, the same handling.
BANK_TRANSFER_SUCCEEDED = "bank_transfer_intent.succeeded"
BANK_TRANSFER_FAILED = "bank_transfer_intent.failed"
_AS_PAYMENT = {BANK_TRANSFER_SUCCEEDED: PAYMENT_SUCCEEDED, BANK_TRANSFER_FAILED: PAYMENT_FAILED}
SUBSCRIPTION_PREFIX = "subscription."
REFUND_CREATED = "refund.create"
DISPUTE_PREFIX = "dispute."
SUBSCRIPTION_PAYMENTABLE = "Subscription"
ONE_TIME_PAYMENTABLE = "OneTimePayment"
# Keys that only Recurrente's top-level shape has: their presence means "not an envelope".
_TOP_LEVEL_MARKERS = ("checkout", "checkout_id", "amount_in_cents", "customer", "payment", "customer_email")
_CHANGES = {
    "subscription.create": SubscriptionChange.CREATED,
    "subscription.past_due": SubscriptionChange.PAST_DUE,
    "subscription.cancel": SubscriptionChange.CANCELLED,
    "subscription.pause": SubscriptionChange.PAUSED,
    "subscription.paused": SubscriptionChange.PAUSED,
    "subscription.unpause": SubscriptionChange.RESUMED,
    "subscription.reactivate": SubscriptionChange.REACTIVATED,
}


class RecurrenteEventTranslator:
    """``PaymentEventTranslator`` for Recurrente's webhooks."""

    def translate(self, body: bytes) -> PaymentEvent:
        return event_from_payload(load_payload(body))


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
        return SubscriptionChanged(
            label=event_type,
            change=_CHANGES.get(event_type, SubscriptionChange.UPDATED),
            subscription_id=subscription_id,
            occurred_at=read.time("created_at"),
            customer_email=read.text("customer_email", "customer.email", "subscriber.email"),
            customer_id=read.text("customer_id", "customer.id", "subscriber.id"),
            customer_name=read.text("customer_name", "customer.full_name", "subscriber.full_name"),
            payment_id=read.text("payment.id"),
        )
    if event_type == REFUND_CREATED or event_type.startswith(DISPUTE_PREFIX):
        return MoneyReturned(
            label=event_type,
            kind=MoneyReturnedKind.REFUND if event_type == REFUND_CREATED else MoneyReturnedKind.DISPUTE,
            payment_id=read.text(
                "payment_intent.id", "payment_intent_id", "payment.id", "payment_id", floats=True
            ),
            checkout_id=read.text("checkout.id", "checkout_id", "payment_intent.checkout.id", floats=True),
            amount=read.text("amount_in_cents", "amount", floats=True),
        )
    return OtherEvent(label=event_type)


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


def _payment_event(event_type: str, read: _Reader) -> PaymentSucceeded | PaymentFailed:
    problems: list[str] = []
    metadata = _metadata(read.value("checkout.metadata")) or _metadata(read.value("metadata"))
    checkout_id = read.text("checkout.id", "checkout_id")
    paymentable_type = read.text("payment.paymentable.type", "paymentable.type")
    paymentable_id = read.text("payment.paymentable.id", "paymentable.id")
    for_subscription = paymentable_type == SUBSCRIPTION_PAYMENTABLE
    common = {
        "label": event_type,
        "checkout_id": checkout_id,
        "metadata": metadata,
        "payment_id": read.text("id", "payment_intent.id", "payment.id"),
        "customer_email": read.text("customer.email", "customer_email"),
        "customer_name": read.text("customer.full_name", "customer_name", "customer.name"),
        "for_subscription": for_subscription,
        "subscription_id": paymentable_id if for_subscription else None,
        "occurred_at": read.time("created_at"),
    }
    if checkout_id is None and "purchase_id" not in metadata and paymentable_id is None:
        problems.append("nothing to match it with: no checkout.id, metadata.purchase_id or paymentable id")
    amount, money_problems = read.money()
    if event_type == PAYMENT_FAILED:
        if problems:
            raise MalformedEvent(event_type, problems)
        failure_reason = read.text("failure_reason", "failure.reason", "error.message")
        return PaymentFailed(**common, amount=amount, failure_reason=failure_reason)  # type: ignore[arg-type]
    problems.extend(money_problems)
    if problems or amount is None:
        raise MalformedEvent(event_type, problems)
    return PaymentSucceeded(**common, amount=amount)  # type: ignore[arg-type]


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

    def text(self, *paths: str, floats: bool = False) -> str | None:
        """The first non-blank string (or integer, or with ``floats`` any number, as text)
        at any of ``paths``."""
        for path in paths:
            value = self.value(path)
            if isinstance(value, int | float if floats else int) and not isinstance(value, bool):
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
