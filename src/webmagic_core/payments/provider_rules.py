"""What the payment provider (Recurrente) accepts and what it sends, as pure functions.

``request_problems`` checks a ``CheckoutRequest`` the way the provider validates
``POST /checkouts`` (a 422 when it refuses); the ``*_payload`` functions build webhook
bodies in the provider's top-level shape (docs/payments.md: every field at the top level, no
``data`` envelope). The sandbox gateway and the test fakes share these, so there is one
definition of each rule and each shape.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

from webmagic_core.money import Money
from webmagic_core.payments.events import ONE_TIME_PAYMENTABLE, PAYMENT_SUCCEEDED, SUBSCRIPTION_PAYMENTABLE
from webmagic_core.payments.gateway import (
    CheckoutInfo,
    CheckoutKind,
    CheckoutRequest,
    FreeTrial,
    TrialInterval,
)

API_VERSION = "2024-04-24"
CURRENCIES = frozenset({"USD", "GTQ"})
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
HOSTING_PRODUCT = "prod_hosting"


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


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


def add_months(value: dt.datetime, months: int) -> dt.datetime:
    """The same day ``months`` later (the last day of a shorter month)."""
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    for day in range(value.day, 0, -1):
        try:
            return value.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def trial_end(start: dt.datetime, trial: FreeTrial) -> dt.datetime:
    """When a free trial started at ``start`` ends: the first charge falls then."""
    if trial.interval is TrialInterval.WEEK:
        return start + dt.timedelta(weeks=trial.count)
    return add_months(start, trial.count)


def trial_within(start: dt.datetime, paid_until: dt.datetime) -> FreeTrial | None:
    """The free trial (whole months or whole weeks, whichever ends later) that ends no
    later than ``paid_until``; None when not even a week is left. Billing then starts at,
    never after, the end of the time already paid for."""
    months = 0
    while trial_end(start, FreeTrial(TrialInterval.MONTH, months + 1)) <= paid_until:
        months += 1
    weeks = (paid_until - start) // dt.timedelta(weeks=1) if paid_until > start else 0
    candidates = [
        FreeTrial(interval, count)
        for interval, count in ((TrialInterval.MONTH, months), (TrialInterval.WEEK, weeks))
        if count >= 1
    ]
    return max(candidates, key=lambda trial: trial_end(start, trial), default=None)


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
) -> dict[str, object]:
    """A ``payment_intent.*`` body in Recurrente's top-level shape (docs/payments.md) for the
    payment of ``checkout`` (as ``get_checkout`` reports it once paid)."""
    amount = amount or checkout.amount or Money(0, "USD")
    paymentable: Mapping[str, object] = {
        "type": checkout.paymentable_type or ONE_TIME_PAYMENTABLE,
        "id": checkout.paymentable_id or "on_unknown",
    }
    return {
        "id": payment_id or checkout.payment_id or _new_id("pa"),
        "event_type": event_type,
        "api_version": API_VERSION,
        "created_at": (created_at or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).isoformat(),
        "amount_in_cents": amount.amount_in_cents,
        "currency": amount.currency,
        "failure_reason": failure_reason,
        "checkout": {"id": checkout.id, "status": checkout.status.value, "metadata": dict(checkout.metadata)},
        "customer": {"id": "cus_fake", "email": customer_email, "full_name": customer_name},
        "payment": {"id": payment_id or checkout.payment_id or "py_fake", "paymentable": dict(paymentable)},
        "product": {"id": "prod_fake"},
        "invoice": {"id": "inv_fake", "tax_invoice_url": None},
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
