"""A checkout as the provider keeps it, from ``POST /checkouts`` to its payment, and the
subscription a paid monthly one starts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs

from webmagic_adapters.payments.provider_model.rules import (
    Period,
    add_month,
    first_period_end,
    request_problems,
)
from webmagic_adapters.payments.recurrente_events import ONE_TIME_PAYMENTABLE, SUBSCRIPTION_PAYMENTABLE
from webmagic_core.errors import Conflict
from webmagic_core.money import Money
from webmagic_core.payments.gateway import (
    CheckoutInfo,
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    FreeTrial,
    GatewayError,
    SubscriptionInfo,
    SubscriptionStatus,
)


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
    def paymentable_prefix(self) -> str:
        """The id prefix of what paying it makes: a subscription (``su_``) for a monthly
        checkout, else a one-time payment (``on_``)."""
        return "su" if self.kind is CheckoutKind.MONTHLY else "on"

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

    def expiring(self, at: dt.datetime | None) -> ProviderCheckout:
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

    def declined_info(self, paymentable_id: str) -> CheckoutInfo:
        """What a declined payment's webhook reports of it: still unpaid, yet naming (as
        Recurrente does) a subscription ``paymentable_id`` for a monthly checkout's payment."""
        monthly = self.kind is CheckoutKind.MONTHLY
        return attrs.evolve(self.info(), subscription_id=paymentable_id if monthly else None)

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


def pay(
    checkout: ProviderCheckout,
    now: dt.datetime,
    *,
    payment_id: str,
    paymentable_id: str,
    customer_email: str | None = None,
    period: Period = add_month,
) -> tuple[ProviderCheckout, SubscriptionInfo | None]:
    """The buyer pays ``checkout`` at ``now`` with ``payment_id``: the paid checkout, and the
    subscription ``paymentable_id`` a monthly one starts (None for a one-time sale)."""
    paid = checkout.paid(now, payment_id=payment_id, paymentable_id=paymentable_id)
    if paid.subscription_id is None:
        return paid, None
    return paid, started_subscription(paid, now, customer_email=customer_email, period=period)
