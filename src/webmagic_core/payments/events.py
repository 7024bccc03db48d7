"""Payment events in the core's own words, whatever provider sent them.

A ``PaymentEventTranslator`` (``ports.payments``; Recurrente's is
``webmagic_adapters.payments.recurrente_events``) turns a verified webhook body into one
of these: a payment that succeeded or failed, a subscription that changed, money that
went back to the payer (a refund or a dispute), or anything else (``OtherEvent``). Each
carries the provider's own name for the event (``label``): the webhook log stores it and
notes quote it; the core never matches on it.

Tolerant of what is optional, strict about what is needed: a body that is not a JSON
object is ``UnreadableWebhook`` (the delivery is refused, nothing stored); an event that
lacks what its kind needs (a payment with no amount, nothing to match it to a purchase...)
is ``MalformedEvent``, which the webhook service stores as an anomaly.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping, Sequence

import attrs

from webmagic_core.errors import ValidationError
from webmagic_core.money import Money
from webmagic_core.payments.gateway import CheckoutInfo

# The label of a payment the core made up from a paid checkout (reconciliation).
CHECKOUT_PAID = "checkout.paid"


class UnreadableWebhook(ValidationError):
    """The body is not a UTF-8 JSON object: nothing can be stored or acted on (400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="body")


class MalformedEvent(ValidationError):
    """An event that lacks what its kind needs; ``label`` is the provider's name for it
    ("" when it names none)."""

    def __init__(self, label: str, problems: Sequence[str]) -> None:
        self.label = label
        self.problems = tuple(problems)
        what = f"the {label} event" if label else "the event"
        super().__init__(f"{what} is malformed: " + "; ".join(self.problems), field="body")


@attrs.frozen
class _Payment:
    """What a succeeded and a failed payment both carry."""

    label: str
    checkout_id: str | None
    metadata: Mapping[str, str]
    payment_id: str | None
    customer_email: str | None
    customer_name: str | None
    # A payment of a subscription (its first one, a renewal or a retry); the provider's id
    # of that subscription when the event names it.
    for_subscription: bool
    subscription_id: str | None
    occurred_at: dt.datetime | None

    @property
    def purchase_id(self) -> uuid.UUID | None:
        """The purchase named in the checkout's metadata, if it names one well-formed."""
        try:
            return uuid.UUID(self.metadata.get("purchase_id", ""))
        except ValueError:
            return None


@attrs.frozen
class PaymentSucceeded(_Payment):
    amount: Money

    @classmethod
    def from_checkout(cls, info: CheckoutInfo) -> PaymentSucceeded:
        """The event a paid checkout stands for (reconciliation); ``MalformedEvent`` when
        the provider reported no amount, which the check against the purchase needs."""
        if info.amount is None:
            raise MalformedEvent(CHECKOUT_PAID, [f"checkout {info.id} is paid but reports no amount"])
        return cls(
            label=CHECKOUT_PAID,
            checkout_id=info.id,
            metadata=dict(info.metadata),
            payment_id=info.payment_id,
            customer_email=None,
            customer_name=None,
            for_subscription=info.subscription_id is not None,
            subscription_id=info.subscription_id,
            occurred_at=None,
            amount=info.amount,
        )


@attrs.frozen
class PaymentFailed(_Payment):
    amount: Money | None  # optional: a failed payment moves no money
    failure_reason: str | None


class SubscriptionChange(enum.StrEnum):
    """What the provider says happened to a subscription. The core converges on the
    subscription as the provider reports it, whatever the change; this is for the record."""

    CREATED = "created"
    PAST_DUE = "past_due"
    CANCELLED = "cancelled"
    PAUSED = "paused"
    RESUMED = "resumed"
    REACTIVATED = "reactivated"
    UPDATED = "updated"


@attrs.frozen
class SubscriptionChanged:
    label: str
    change: SubscriptionChange
    subscription_id: str
    occurred_at: dt.datetime | None
    customer_email: str | None
    customer_id: str | None
    customer_name: str | None
    payment_id: str | None


class MoneyReturnedKind(enum.StrEnum):
    REFUND = "refund"  # money given back at the provider
    DISPUTE = "dispute"  # a chargeback opened or changed


@attrs.frozen
class MoneyReturned:
    """A refund or a dispute of a payment (what it names may be missing)."""

    label: str
    kind: MoneyReturnedKind
    payment_id: str | None
    checkout_id: str | None
    amount: str | None  # as the provider wrote it (cents), for the operators' note


@attrs.frozen
class OtherEvent:
    """An event the core does not act on (stored and ``ignored``)."""

    label: str


PaymentEvent = PaymentSucceeded | PaymentFailed | SubscriptionChanged | MoneyReturned | OtherEvent
