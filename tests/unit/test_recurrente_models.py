"""Recurrente request bodies and response parsing, without HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webmagic_adapters.payments import models
from webmagic_adapters.payments.recurrente import (
    check_metadata,
    checkout_body,
    checkout_info,
    subscription_info,
)
from webmagic_core.errors import ValidationError
from webmagic_core.money import Money
from webmagic_core.payments.gateway import (
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    GatewayError,
    SubscriptionStatus,
)


def request(**changes: Any) -> CheckoutRequest:
    fields: dict[str, Any] = {
        "kind": CheckoutKind.ONE_TIME,
        "item_name": "Website: Panadería Lupita",
        "amount": Money(49500, "USD"),
        "success_url": "https://webmagic.example/purchase/thanks",
        "cancel_url": "https://webmagic.example/purchase/cancelled",
        "metadata": {"purchase_id": "p-1", "site": "lupita"},
    }
    fields.update(changes)
    return CheckoutRequest(**fields)


def body_of(req: CheckoutRequest) -> Any:
    return models.converter.unstructure(checkout_body(req))


def test_one_time_body() -> None:
    assert body_of(request()) == {
        "items": [
            {"name": "Website: Panadería Lupita", "currency": "USD", "amount_in_cents": 49500, "quantity": 1}
        ],
        "success_url": "https://webmagic.example/purchase/thanks",
        "cancel_url": "https://webmagic.example/purchase/cancelled",
        "metadata": {"purchase_id": "p-1", "site": "lupita"},
    }


def test_monthly_body_with_expiry_and_description() -> None:
    expires = dt.datetime(2026, 1, 1, 6, 30, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    body = body_of(
        request(
            kind=CheckoutKind.MONTHLY,
            amount=Money(9500, "GTQ"),
            expires_at=expires,
            description="Hosting and edits",
            metadata={},
        )
    )
    assert body["items"] == [
        {
            "name": "Website: Panadería Lupita",
            "currency": "GTQ",
            "amount_in_cents": 9500,
            "quantity": 1,
            "description": "Hosting and edits",
            "charge_type": "recurring",
            "billing_interval": "month",
            "billing_interval_count": 1,
        }
    ]
    assert body["expires_at"] == "2026-01-01T12:30:00Z"
    assert body["metadata"] == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": Money(100, "EUR")}, "amount"),
        ({"amount": Money(0, "USD")}, "amount"),
        ({"amount": Money(-5, "USD")}, "amount"),
        ({"item_name": "  "}, "item_name"),
        ({"expires_at": dt.datetime(2026, 1, 1)}, "expires_at"),  # naive
    ],
)
def test_bodies_the_provider_would_refuse_fail_before_sending(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        checkout_body(request(**changes))
    assert caught.value.field == field


def test_metadata_at_the_limits_is_accepted() -> None:
    metadata = {f"k{i:02d}".ljust(40, "x"): "v" * 500 for i in range(50)}
    assert check_metadata(metadata) == metadata


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({f"k{i}": "v" for i in range(51)}, "51 keys"),
        ({"k" * 41: "v"}, "longer than 40"),
        ({"site": "v" * 501}, "'site' is longer than 500"),
        ({"": "v"}, "non-empty"),
        ({"n": 5}, "must be a string"),
    ],
)
def test_metadata_beyond_the_limits_is_refused(metadata: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        checkout_body(request(metadata=metadata))
    assert caught.value.field == "metadata"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T06:30:00.000-06:00", dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.UTC)),
        ("2026-01-01T12:30:00Z", dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.UTC)),
        ("2026-01-01T12:30:00.123456+00:00", dt.datetime(2026, 1, 1, 12, 30, 0, 123456, tzinfo=dt.UTC)),
        ("2026-01-01T12:30:00", dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.UTC)),  # no offset: UTC
    ],
)
def test_provider_times_become_aware_utc(text: str, expected: dt.datetime) -> None:
    parsed = models.parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


@given(st.datetimes(timezones=st.timezones()).filter(lambda d: d.utcoffset() is not None))
def test_format_then_parse_keeps_the_instant_to_the_second(value: dt.datetime) -> None:
    assert models.parse_datetime(models.format_datetime(value)) == value.astimezone(dt.UTC).replace(
        microsecond=0
    )


CHECKOUT = {
    "id": "ch_1",
    "status": "paid",
    "checkout_url": "https://app.recurrente.com/checkout-session/ch_1",
    "total_in_cents": 49500,
    "currency": "USD",
    "live_mode": False,
    "metadata": {"purchase_id": "p-1", "count": 3},
    "payment": {"id": "pa_1", "paymentable": {"type": "OneTimePayment", "id": "on_1"}},
    "some_new_field": {"nested": [1, 2]},
}


def test_a_paid_checkout_parses_and_extra_fields_are_ignored() -> None:
    info = checkout_info(models.converter.structure(CHECKOUT, models.CheckoutBody))
    assert info.status is CheckoutStatus.PAID
    assert info.amount == Money(49500, "USD")
    assert info.metadata == {"purchase_id": "p-1", "count": "3"}
    assert (info.payment_id, info.subscription_id) == ("pa_1", None)


def test_a_paid_monthly_checkout_names_its_subscription() -> None:
    body = {**CHECKOUT, "payment": {"id": "pa_1", "paymentable": {"type": "Subscription", "id": "su_1"}}}
    info = checkout_info(models.converter.structure(body, models.CheckoutBody))
    assert (info.payment_id, info.subscription_id) == ("pa_1", "su_1")


def test_an_unpaid_checkout_may_lack_payment_and_amount() -> None:
    body = {"id": "ch_1", "status": "unpaid", "payment": None, "metadata": None}
    info = checkout_info(models.converter.structure(body, models.CheckoutBody))
    assert info.status is CheckoutStatus.UNPAID
    assert info.amount is None
    assert info.payment_id is None
    assert info.metadata == {}


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"id": None}, "$.id"),
        ({"id": 5}, "$.id"),
        ({"total_in_cents": "49500"}, "$.total_in_cents"),
        ({"total_in_cents": True}, "$.total_in_cents"),
        ({"live_mode": "false"}, "$.live_mode"),
        ({"payment": {"id": 7}}, "$.payment.id"),
    ],
)
def test_wrong_types_are_errors_not_coercions(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - cattrs raises an exception group
        models.converter.structure({**CHECKOUT, **changes}, models.CheckoutBody)
    assert where in models.describe_structure_error(caught.value)


def test_unknown_statuses_and_currencies_are_gateway_errors() -> None:
    with pytest.raises(GatewayError, match="unknown checkout status 'expired'"):
        checkout_info(models.converter.structure({**CHECKOUT, "status": "expired"}, models.CheckoutBody))
    with pytest.raises(GatewayError, match="currency"):
        checkout_info(models.converter.structure({**CHECKOUT, "currency": "usd"}, models.CheckoutBody))


def test_a_subscription_parses() -> None:
    body = {
        "id": "su_1",
        "status": "past_due",
        "current_period_start": "2026-01-01T00:00:00.000-06:00",
        "current_period_end": "2026-02-01T00:00:00.000-06:00",
        "next_payment_attempt_at": None,
        "subscriber": {"id": "us_1", "email": "ana@example.com", "full_name": "Ana"},
        "checkout": {"id": "ch_1"},
        "product": {"id": "pr_1"},
    }
    info = subscription_info(models.converter.structure(body, models.SubscriptionBody))
    assert info.status is SubscriptionStatus.PAST_DUE
    assert info.current_period_start == dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC)
    assert info.current_period_end == dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC)
    assert info.next_payment_attempt_at is None
    assert info.checkout_id == "ch_1"
    assert info.customer_email == "ana@example.com"


def test_a_bare_subscription_parses() -> None:
    info = subscription_info(
        models.converter.structure({"id": "su_1", "status": "active"}, models.SubscriptionBody)
    )
    assert (info.checkout_id, info.customer_email, info.current_period_end) == (None, None, None)
