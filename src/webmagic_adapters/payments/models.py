"""Recurrente's JSON as typed attrs classes, (un)structured by a strict cattrs converter.

Responses: unknown fields are ignored (the provider adds fields over time), missing optional
ones become ``None``, and a field of the wrong type is an error (``str`` never turns ``None``
into ``"None"``). Times are parsed to aware UTC; a time without an offset is taken as UTC.
Requests: optional fields left at ``None`` are left out of the JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn

# --- requests ----------------------------------------------------------------------------


@attrs.frozen
class CheckoutItemBody:
    name: str
    currency: str
    amount_in_cents: int
    quantity: int
    description: str | None = None
    image_url: str | None = None
    # Monthly items only: "recurring", "month", 1.
    charge_type: str | None = None
    billing_interval: str | None = None
    billing_interval_count: int | None = None
    # Optional on recurring items: the first charge falls when the trial ends.
    free_trial_interval: str | None = None
    free_trial_interval_count: int | None = None


@attrs.frozen
class CreateCheckoutBody:
    items: list[CheckoutItemBody]
    success_url: str
    cancel_url: str
    metadata: dict[str, str]
    expires_at: str | None = None  # ISO 8601


@attrs.frozen
class UpdateCheckoutBody:
    expires_at: str  # ISO 8601


@attrs.frozen
class RefundBody:
    payment_intent_id: str


# --- responses ---------------------------------------------------------------------------


@attrs.frozen
class CreatedCheckoutBody:
    id: str
    checkout_url: str


@attrs.frozen
class PaymentableBody:
    type: str | None = None
    id: str | None = None


@attrs.frozen
class PaymentBody:
    id: str | None = None
    paymentable: PaymentableBody | None = None


@attrs.frozen
class CheckoutBody:
    id: str
    status: str
    total_in_cents: int | None = None
    currency: str | None = None
    live_mode: bool = False
    metadata: dict[str, Any] | None = None
    payment: PaymentBody | None = None
    expires_at: dt.datetime | None = None
    created_at: dt.datetime | None = None


@attrs.frozen
class SubscriberBody:
    id: str | None = None
    email: str | None = None
    full_name: str | None = None


@attrs.frozen
class CheckoutRefBody:
    id: str | None = None


@attrs.frozen
class SubscriptionBody:
    id: str
    status: str
    current_period_start: dt.datetime | None = None
    current_period_end: dt.datetime | None = None
    next_payment_attempt_at: dt.datetime | None = None
    subscriber: SubscriberBody | None = None
    checkout: CheckoutRefBody | None = None


@attrs.frozen
class MessageBody:
    message: str | None = None


# --- the converter -----------------------------------------------------------------------


def parse_datetime(value: str) -> dt.datetime:
    """ISO 8601 (``Z`` or an offset, fractions allowed) to an aware UTC datetime."""
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def format_datetime(value: dt.datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a ``Z`` (``2026-01-01T12:30:00Z``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the time must be timezone-aware")
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def metadata_strings(metadata: dict[str, Any] | None) -> dict[str, str]:
    """Metadata as strings: we only send strings, but a value may come back as a number."""
    if not metadata:
        return {}
    return {
        str(key): value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for key, value in metadata.items()
    }


def _strict(kind: type[Any]) -> Any:
    def structure(value: object, _: type[Any]) -> Any:
        # bool is an int in Python; JSON true is never a count of cents.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


def _structure_datetime(value: object, _: type[Any]) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    return parse_datetime(value)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=False)
    for kind in (str, int, bool):
        converter.register_structure_hook(kind, _strict(kind))
    converter.register_structure_hook(dt.datetime, _structure_datetime)
    for request in (CheckoutItemBody, CreateCheckoutBody):
        converter.register_unstructure_hook(
            request, make_dict_unstructure_fn(request, converter, _cattrs_omit_if_default=True)
        )
    return converter


converter = _make_converter()


def describe_structure_error(error: Exception) -> str:
    """What was wrong with a response body, e.g. ``required field missing @ $.id``."""
    if isinstance(error, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(error))
    return str(error)
