"""The webhook bodies, in the provider's top-level shape (docs/payments.md: every field at
the top level, no ``data`` envelope)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import attrs

from webmagic_adapters.payments.provider_model.machine import Move
from webmagic_adapters.payments.provider_model.rules import API_VERSION, HOSTING_PRODUCT, new_id
from webmagic_adapters.payments.recurrente_events import (
    ONE_TIME_PAYMENTABLE,
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    SUBSCRIPTION_PAYMENTABLE,
)
from webmagic_core.money import Money
from webmagic_core.payments.gateway import CheckoutInfo


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
