"""Reading Recurrente webhook payloads as the core's payment events
(``RecurrenteEventTranslator``): both documented shapes, the alternative field names,
strict about what each type needs, tolerant of the rest."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from webmagic_adapters.payments.recurrente_events import RecurrenteEventTranslator, event_type_of
from webmagic_core.money import Money
from webmagic_core.payments.events import (
    MalformedEvent,
    MoneyReturned,
    MoneyReturnedKind,
    OtherEvent,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionChange,
    SubscriptionChanged,
    UnreadableWebhook,
)
from webmagic_core.payments.gateway import CheckoutInfo, CheckoutStatus

PURCHASE_ID = uuid.uuid4()

# The shape docs/payments.md documents: fields at the top level, no "data" wrapper.
SUCCEEDED = {
    "id": "pa_123",
    "event_type": "payment_intent.succeeded",
    "api_version": "2024-04-24",
    "created_at": "2026-01-02T03:04:05.000Z",
    "amount_in_cents": 49500,
    "currency": "USD",
    "failure_reason": None,
    "checkout": {"id": "ch_123", "status": "paid", "metadata": {"purchase_id": str(PURCHASE_ID), "n": 7}},
    "customer": {"id": "cus_1", "email": "rosa@example.com", "full_name": "Rosa Díaz"},
    "payment": {"id": "py_1", "paymentable": {"type": "OneTimePayment", "id": "on_1"}},
    "product": {"id": "prod_1"},
    "invoice": {"id": "inv_1", "tax_invoice_url": None},
}

EXPECTED = PaymentSucceeded(
    label="payment_intent.succeeded",
    checkout_id="ch_123",
    metadata={"purchase_id": str(PURCHASE_ID), "n": "7"},
    payment_id="pa_123",
    customer_email="rosa@example.com",
    customer_name="Rosa Díaz",
    for_subscription=False,
    subscription_id=None,
    occurred_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    amount=Money(49500, "USD"),
)


def parse_event(body: bytes) -> object:
    return RecurrenteEventTranslator().translate(body)


def parse(payload: object) -> object:
    return parse_event(json.dumps(payload).encode())


def test_the_documented_top_level_shape() -> None:
    event = parse(SUCCEEDED)
    assert event == EXPECTED
    assert isinstance(event, PaymentSucceeded)
    assert event.purchase_id == PURCHASE_ID
    assert not event.for_subscription


def test_the_standard_webhooks_envelope() -> None:
    fields = {k: v for k, v in SUCCEEDED.items() if k != "event_type"}
    envelope = {"type": "payment_intent.succeeded", "timestamp": "2026-01-02T03:04:05Z", "data": fields}
    assert parse(envelope) == EXPECTED
    assert event_type_of(envelope) == "payment_intent.succeeded"
    # The type inside the data is read as well.
    assert parse({"data": SUCCEEDED}) == EXPECTED


def test_alternative_field_names() -> None:
    payload = {
        "id": "pa_123",
        "type": "payment_intent.succeeded",
        "created_at": 1767323045,
        "amount_in_cents": 49500.0,
        "currency": "usd",
        "checkout_id": "ch_123",
        "metadata": {"purchase_id": str(PURCHASE_ID), "n": 7},
        "customer_email": "rosa@example.com",
        "customer_name": "Rosa Díaz",
        "paymentable": {"type": "OneTimePayment", "id": "on_1"},
    }
    assert parse(payload) == EXPECTED


@pytest.mark.parametrize("created_at", ["yesterday", None, True, [], "2026-01-02T03:04:05"])
def test_an_unusable_or_naive_time_is_tolerated(created_at: object) -> None:
    event = parse({**SUCCEEDED, "created_at": created_at})
    assert isinstance(event, PaymentSucceeded)
    if created_at == "2026-01-02T03:04:05":
        assert event.occurred_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    else:
        assert event.occurred_at is None


def test_optional_parts_may_be_missing_or_of_the_wrong_type() -> None:
    payload = {
        "event_type": "payment_intent.succeeded",
        "amount_in_cents": 100,
        "currency": "GTQ",
        "checkout": {"id": "ch_1", "metadata": "not an object"},
        "customer": "nobody",
        "payment": None,
    }
    event = parse(payload)
    assert isinstance(event, PaymentSucceeded)
    assert (event.checkout_id, event.metadata, event.payment_id, event.customer_email) == (
        "ch_1",
        {},
        None,
        None,
    )
    assert event.purchase_id is None
    assert event.amount == Money(100, "GTQ")


def test_a_malformed_purchase_id_in_the_metadata_is_no_purchase_id() -> None:
    event = parse({**SUCCEEDED, "checkout": {"id": "ch_1", "metadata": {"purchase_id": "42; drop table"}}})
    assert isinstance(event, PaymentSucceeded)
    assert event.purchase_id is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"amount_in_cents": None}, "amount_in_cents"),
        ({"amount_in_cents": "49500"}, "amount_in_cents"),
        ({"amount_in_cents": True}, "amount_in_cents"),
        ({"amount_in_cents": -1}, "amount_in_cents"),
        ({"amount_in_cents": 49500.5}, "amount_in_cents"),
        ({"currency": None}, "currency"),
        ({"currency": "US"}, "currency"),
        ({"currency": 840}, "currency"),
        ({"checkout": {}, "payment": {}}, "nothing to match"),
    ],
)
def test_a_payment_without_what_it_needs_is_malformed(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse({**SUCCEEDED, **changes})
    assert caught.value.label == "payment_intent.succeeded"
    assert problem in caught.value.detail
    assert caught.value.field == "body"


def test_a_failed_payment_needs_only_something_to_match() -> None:
    event = parse(
        {"event_type": "payment_intent.failed", "checkout": {"id": "ch_1"}, "failure_reason": "declined"}
    )
    assert isinstance(event, PaymentFailed)
    assert (event.checkout_id, event.amount, event.failure_reason) == ("ch_1", None, "declined")
    full = parse({**SUCCEEDED, "event_type": "payment_intent.failed"})
    assert isinstance(full, PaymentFailed)
    assert full.amount == Money(49500, "USD")
    with pytest.raises(MalformedEvent, match="nothing to match"):
        parse({"event_type": "payment_intent.failed", "failure_reason": "declined"})


def test_a_subscription_payment_says_so() -> None:
    payload = {**SUCCEEDED, "payment": {"id": "py_1", "paymentable": {"type": "Subscription", "id": "su_9"}}}
    event = parse(payload)
    assert isinstance(event, PaymentSucceeded)
    assert event.for_subscription
    assert event.subscription_id == "su_9"
    # Named a subscription payment without the id: still one (matched by its checkout).
    unnamed = parse({**SUCCEEDED, "payment": {"id": "py_1", "paymentable": {"type": "Subscription"}}})
    assert isinstance(unnamed, PaymentSucceeded)
    assert (unnamed.for_subscription, unnamed.subscription_id) == (True, None)


def test_a_bank_transfer_is_read_as_a_card_payment() -> None:
    paid = parse({**SUCCEEDED, "event_type": "bank_transfer_intent.succeeded"})
    assert paid == EXPECTED
    failed = parse({**SUCCEEDED, "event_type": "bank_transfer_intent.failed"})
    assert isinstance(failed, PaymentFailed)
    assert failed.label == "payment_intent.failed"


@pytest.mark.parametrize(
    ("event_type", "change"),
    [
        ("subscription.create", SubscriptionChange.CREATED),
        ("subscription.past_due", SubscriptionChange.PAST_DUE),
        ("subscription.cancel", SubscriptionChange.CANCELLED),
        ("subscription.pause", SubscriptionChange.PAUSED),
        ("subscription.paused", SubscriptionChange.PAUSED),
        ("subscription.unpause", SubscriptionChange.RESUMED),
        ("subscription.reactivate", SubscriptionChange.REACTIVATED),
        ("subscription.update", SubscriptionChange.UPDATED),
        ("subscription.something_new", SubscriptionChange.UPDATED),
    ],
)
def test_subscription_events(event_type: str, change: SubscriptionChange) -> None:
    payload = {
        "id": "su_9",
        "event_type": event_type,
        "created_at": "2026-02-01T00:00:00Z",
        "customer_email": "rosa@example.com",
        "customer_id": "cus_1",
        "customer_name": "Rosa",
        "payment": {"id": "py_2"},
        "product": {"id": "prod_2"},
    }
    event = parse(payload)
    assert event == SubscriptionChanged(
        label=event_type,
        change=change,
        subscription_id="su_9",
        occurred_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        customer_email="rosa@example.com",
        customer_id="cus_1",
        customer_name="Rosa",
        payment_id="py_2",
    )
    with pytest.raises(MalformedEvent, match="subscription id"):
        parse({k: v for k, v in payload.items() if k != "id"})


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [("refund.create", MoneyReturnedKind.REFUND), ("dispute.update", MoneyReturnedKind.DISPUTE)],
)
def test_refunds_and_disputes_are_money_returned(event_type: str, kind: MoneyReturnedKind) -> None:
    event = parse(
        {
            "id": "re_1",
            "event_type": event_type,
            "payment_intent": {"id": "pa_7", "checkout": {"id": "ch_7"}},
            "amount_in_cents": 4950.0,
        }
    )
    assert event == MoneyReturned(
        label=event_type, kind=kind, payment_id="pa_7", checkout_id="ch_7", amount="4950.0"
    )
    assert parse({"event_type": event_type}) == MoneyReturned(
        label=event_type, kind=kind, payment_id=None, checkout_id=None, amount=None
    )


@pytest.mark.parametrize(
    "event_type", ["bank_transfer_intent.pending", "refund.update", "intent.succeeded", "x"]
)
def test_other_types_are_other_events(event_type: str) -> None:
    assert parse({"id": "x", "event_type": event_type, "anything": [1, 2]}) == OtherEvent(label=event_type)


@pytest.mark.parametrize("payload", [{}, {"event_type": ""}, {"event_type": 7}, {"type": "  "}])
def test_an_event_without_a_type_is_malformed(payload: dict[str, object]) -> None:
    with pytest.raises(MalformedEvent, match="no event type") as caught:
        parse(payload)
    assert caught.value.label == ""


@pytest.mark.parametrize("body", [b"", b"{", b"\x80", b"[]", b"1", b'"x"', b"{}garbage"])
def test_unreadable_bodies(body: bytes) -> None:
    with pytest.raises(UnreadableWebhook):
        parse_event(body)


def test_reconciliation_builds_the_same_event_from_a_paid_checkout() -> None:
    info = CheckoutInfo(
        id="ch_123",
        status=CheckoutStatus.PAID,
        amount=Money(49500, "USD"),
        live_mode=False,
        metadata={"purchase_id": str(PURCHASE_ID)},
        payment_id="pa_123",
    )
    event = PaymentSucceeded.from_checkout(info)
    assert (event.checkout_id, event.payment_id, event.amount, event.purchase_id) == (
        "ch_123",
        "pa_123",
        Money(49500, "USD"),
        PURCHASE_ID,
    )
    assert (event.for_subscription, event.subscription_id) == (False, None)
    monthly = PaymentSucceeded.from_checkout(attrs.evolve(info, subscription_id="su_1"))
    assert (monthly.for_subscription, monthly.subscription_id) == (True, "su_1")
    with pytest.raises(MalformedEvent, match="no amount"):
        PaymentSucceeded.from_checkout(CheckoutInfo("ch_1", CheckoutStatus.PAID, None, False, {}))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "event_type",
                "type",
                "data",
                "checkout",
                "amount_in_cents",
                "currency",
                "customer",
                "payment",
            ]
        ),
        json_values,
    )
)
def test_any_json_object_parses_or_is_malformed_never_crashes(payload: dict[str, object]) -> None:
    try:
        event = parse(payload)
    except MalformedEvent:
        return
    assert isinstance(
        event, PaymentSucceeded | PaymentFailed | SubscriptionChanged | MoneyReturned | OtherEvent
    )
