"""The provider's state as the HTTP imitation (``imitation``) keeps it: the provider
model's checkouts and subscriptions, and beside them what only Recurrente's wire shows (the
item as posted, the checkout URL, the subscriber), with their JSON."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import attrs

import webmagic_adapters.payments.provider_model as model
from webmagic_adapters.payments.imitation_wire import provider_time, wire_time
from webmagic_adapters.payments.provider_model import ProviderCheckout
from webmagic_core.money import Money
from webmagic_core.payments.gateway import CheckoutKind, CheckoutStatus, SubscriptionInfo, SubscriptionStatus


def new_id(prefix: str) -> str:
    return model.new_id(prefix, hex_digits=16)


@attrs.define
class ImitationCheckout:
    """A checkout: the provider model's ``state``, and the item as it was posted."""

    state: ProviderCheckout
    checkout_url: str
    item: dict[str, Any]
    live_mode: bool = False

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def status(self) -> CheckoutStatus:
        return self.state.status

    @property
    def payment_id(self) -> str | None:
        return self.state.payment_id

    @property
    def paymentable_id(self) -> str | None:
        return self.state.paymentable_id

    def to_json(self) -> dict[str, Any]:
        payment = None
        if self.payment_id is not None:
            payment = {
                "id": self.payment_id,
                "paymentable": {"type": self.state.paymentable_type, "id": self.paymentable_id},
            }
        return {
            "id": self.id,
            "status": self.status.value,
            "checkout_url": self.checkout_url,
            "created_at": provider_time(self.state.created_at),
            "expires_at": provider_time(self.state.expires_at),
            "live_mode": self.live_mode,
            "total_in_cents": self.state.amount.amount_in_cents,
            "currency": self.state.amount.currency,
            # The model keeps "" for a URL the body left out.
            "success_url": self.state.success_url or None,
            "cancel_url": self.state.cancel_url or None,
            "metadata": dict(self.state.metadata),
            "items": [dict(self.item)],
            "payment": payment,
        }

    def page(self) -> str:
        """The bare hosted checkout page (``/checkout-session/{id}``) with its Pay button."""
        per_month = " per month" if self.state.kind is CheckoutKind.MONTHLY else ""
        return (
            "<!doctype html><meta charset=utf-8><title>Recurrente imitation</title>"
            f"<h1>{html.escape(self.state.item_name)}</h1>"
            f"<p>{html.escape(str(self.state.amount))}{per_month} — status {html.escape(self.status)}</p>"
            f"<form method=post action='/checkout-session/{html.escape(self.id)}/pay'>"
            "<button>Pay</button></form>"
            f"<p><a href='{html.escape(self.state.cancel_url or '/')}'>Cancel</a></p>"
        )


def opened(checkout_id: str, body: dict[str, Any], now: dt.datetime) -> ProviderCheckout:
    """The model's checkout for a valid ``POST /checkouts`` body (its first item)."""
    item = body["items"][0]
    recurring = item.get("charge_type") == "recurring"
    return ProviderCheckout(
        id=checkout_id,
        kind=CheckoutKind.MONTHLY if recurring else CheckoutKind.ONE_TIME,
        item_name=item["name"],
        description=item.get("description"),
        amount=Money(item["amount_in_cents"] * item.get("quantity", 1), item["currency"]),
        success_url=body.get("success_url") or "",
        cancel_url=body.get("cancel_url") or "",
        metadata=dict(body.get("metadata") or {}),
        status=CheckoutStatus.UNPAID,
        created_at=now,
        expires_at=wire_time(body.get("expires_at")),
        free_trial=(
            model.trial_from_wire(item.get("free_trial_interval"), item.get("free_trial_interval_count"))
            if recurring
            else None
        ),
    )


@attrs.define
class ImitationSubscription:
    """A subscription: the provider model's ``state``, and who subscribed."""

    state: SubscriptionInfo
    created_at: dt.datetime
    subscriber_name: str | None = None
    subscriber_id: str = attrs.field(factory=lambda: new_id("us"))

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def status(self) -> SubscriptionStatus:
        return self.state.status

    def to_json(self) -> dict[str, Any]:
        state = self.state
        return {
            "id": state.id,
            "status": state.status.value,
            "description": "Monthly hosting",
            "created_at": provider_time(self.created_at),
            "current_period_start": provider_time(state.current_period_start),
            "current_period_end": provider_time(state.current_period_end),
            "next_payment_attempt_at": provider_time(state.next_payment_attempt_at),
            "subscriber": {
                "id": self.subscriber_id,
                "email": state.customer_email,
                "full_name": self.subscriber_name,
            },
            "checkout": {"id": state.checkout_id},
            "product": {"id": "pr_imitation"},
        }


@attrs.frozen
class Refund:
    id: str
    payment_intent_id: str
    amount_in_cents: int
    currency: str
