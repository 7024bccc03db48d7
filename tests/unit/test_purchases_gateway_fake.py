"""What the fake gateway adds to the shared contract (tests/contract/test_payment_gateway.py):
scripting, call recording, failure injection, and the provider's request checks."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from webmagic_core.money import Money
from webmagic_core.payments.gateway import (
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
)
from webmagic_core.testing.fakes import FakeClock
from webmagic_core.testing.payments import FakePaymentGateway, request_problems

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def request(**changes: object) -> CheckoutRequest:
    fields: dict[str, object] = {
        "kind": CheckoutKind.ONE_TIME,
        "item_name": "Casa Rosa",
        "amount": Money(49500, "USD"),
        "success_url": "https://app.example.com/purchase/casa-rosa/thanks",
        "cancel_url": "https://app.example.com/purchase/casa-rosa/cancelled",
        "metadata": {"purchase_id": "p1"},
        "expires_at": NOW + dt.timedelta(minutes=30),
    }
    fields.update(changes)
    return CheckoutRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"amount": Money(0, "USD")}, "positive"),
        ({"amount": Money(100, "EUR")}, "currency"),
        ({"item_name": "  "}, "name"),
        ({"cancel_url": "/relative"}, "cancel_url"),
        ({"expires_at": NOW}, "expires_at"),
        ({"expires_at": dt.datetime(2026, 2, 1)}, "expires_at"),
        ({"metadata": {"": "x"}}, "metadata key"),
    ],
)
def test_requests_the_provider_would_refuse(changes: dict[str, object], problem: str) -> None:
    problems = request_problems(request(**changes), NOW)
    assert len(problems) == 1
    assert problem in problems[0]
    gateway = FakePaymentGateway(clock=FakeClock(NOW))
    with pytest.raises(GatewayError) as caught:
        gateway.create_checkout(request(**changes))
    assert caught.value.status == 422
    assert gateway.created == []
    assert gateway.calls == [("create_checkout", str(request(**changes).item_name))]


def test_a_good_request_has_no_problems() -> None:
    assert request_problems(request(amount=Money(1, "GTQ")), NOW) == []


def test_failures_can_target_one_method_and_carry_any_error() -> None:
    gateway = FakePaymentGateway(clock=FakeClock(NOW))
    checkout = gateway.create_checkout(request())
    gateway.fail_next(method="get_checkout")
    gateway.fail_next(error=GatewayError("bad keys", status=401))
    # The first queued failure that fits the call is used.
    with pytest.raises(GatewayError, match="bad keys"):
        gateway.create_checkout(request())
    with pytest.raises(GatewayUnavailable):
        gateway.get_checkout(checkout.id)
    assert gateway.get_checkout(checkout.id).status is CheckoutStatus.UNPAID
    assert [name for name, _ in gateway.calls] == [
        "create_checkout",
        "create_checkout",
        "get_checkout",
        "get_checkout",
    ]
    with pytest.raises(ValueError, match="no method"):
        gateway.fail_next(method="charge")


def test_scripting_what_the_provider_reports() -> None:
    gateway = FakePaymentGateway(clock=FakeClock(NOW))
    checkout = gateway.create_checkout(request())
    assert gateway.request_for(checkout.id) == request()
    paid = gateway.pay(checkout.id, amount=Money(1, "USD"), payment_id="pa_chosen")
    assert (paid.status, paid.amount, paid.payment_id) == (CheckoutStatus.PAID, Money(1, "USD"), "pa_chosen")
    gateway.put_checkout(attrs.evolve(paid, live_mode=True))
    assert gateway.get_checkout(checkout.id).live_mode is True
    # Scripting calls are not port calls.
    assert [name for name, _ in gateway.calls] == ["create_checkout", "get_checkout"]
    for script in (
        lambda: gateway.pay("ch_unknown"),
        lambda: gateway.set_status("ch_unknown", CheckoutStatus.PAID),
        lambda: gateway.put_checkout(attrs.evolve(paid, id="ch_unknown")),
        lambda: gateway.checkout("ch_unknown"),
    ):
        with pytest.raises(GatewayNotFound):
            script()


def test_a_paid_monthly_checkout_starts_a_subscription_on_the_fake_clock() -> None:
    clock = FakeClock(NOW)
    gateway = FakePaymentGateway(clock=clock)
    checkout = gateway.create_checkout(request(kind=CheckoutKind.MONTHLY, amount=Money(9500, "USD")))
    info = gateway.pay(checkout.id)
    [subscription] = gateway.subscriptions()
    assert info.subscription_id == subscription.id
    assert (subscription.current_period_start, subscription.current_period_end) == (
        NOW,
        NOW + dt.timedelta(days=30),
    )
    gateway.cancel_subscription(subscription.id)
    gateway.cancel_subscription(subscription.id)
    assert gateway.cancelled == [subscription.id]
