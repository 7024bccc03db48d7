"""Subscriptions on fakes: a wired world, and a provider that moves first and then tells.

``ProviderSimulator`` changes the ``FakePaymentGateway``'s subscription by the provider
model's subscription machine (``webmagic_adapters.payments.provider_model``: renewal,
failed renewal, recovery, pause, cancel...) and returns the webhook bodies it would send
about the change, for a test to deliver in any order, any number of times, or never.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

import webmagic_adapters.payments.provider_model as model
from webmagic_adapters.payments.recurrente_events import PAYMENT_FAILED, PAYMENT_SUCCEEDED
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.money import Money
from webmagic_core.outbox import OutboxMessage
from webmagic_core.payments.gateway import SubscriptionInfo
from webmagic_core.payments.subscriptions import Subscription
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.archiving import SiteArchiver
from webmagic_core.services.subscriptions import SubscriptionConfig, SubscriptionService
from webmagic_core.services.sweep import LifecycleSweep
from webmagic_core.sites import Site
from webmagic_core.testing.fakes import FakeClock, FakeUnitOfWorkFactory, _Store
from webmagic_core.testing.payments import (
    ADMIN_EMAIL,
    MONTHLY,
    PERIOD,
    FakePaymentGateway,
    PaymentsWorld,
    fake_period,
    payments_world,
)

# Re-exported: the tests count the fake's periods and retries with these.
__all__ = [
    "MONTHLY",
    "PERIOD",
    "RETRY_AFTER",
    "ProviderSimulator",
    "SubscriptionsWorld",
    "subscriptions_world",
]

RETRY_AFTER = model.RETRY_AFTER
OWNER = "rosa@example.com"
# The customer the simulated webhooks name.
CUSTOMER = model.Customer(OWNER, name="Rosa Díaz", id="us_fake")


def subscription_event_payload(
    subscription_id: str,
    event_type: str,
    *,
    created_at: dt.datetime,
    customer_email: str = OWNER,
    payment_id: str | None = None,
) -> dict[str, object]:
    """A ``subscription.*`` body in Recurrente's shape (fields at the top level, no
    checkout metadata)."""
    return model.subscription_event_payload(
        subscription_id,
        event_type,
        created_at=created_at,
        customer_email=customer_email,
        customer_name=CUSTOMER.name,
        customer_id=CUSTOMER.id,
        payment_id=payment_id,
    )


def subscription_payment_payload(
    subscription_id: str,
    payment_id: str,
    *,
    created_at: dt.datetime,
    amount: Money = MONTHLY,
    checkout_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
    event_type: str = PAYMENT_SUCCEEDED,
    customer_email: str = OWNER,
) -> dict[str, object]:
    """A ``payment_intent.*`` body for a payment of a subscription; a failed one was
    declined. Renewals carry no checkout (so they must be matched through the ``su_...`` id)."""
    return model.subscription_payment_payload(
        subscription_id,
        payment_id,
        created_at=created_at,
        amount=amount,
        customer_email=customer_email,
        customer_name=CUSTOMER.name,
        customer_id=CUSTOMER.id,
        event_type=event_type,
        failure_reason="card declined" if event_type == PAYMENT_FAILED else None,
        checkout_id=checkout_id,
        metadata=metadata,
    )


@attrs.define
class ProviderSimulator:
    """Recurrente's side of one or more subscriptions, on a ``FakePaymentGateway``. A
    change the provider would not make from the subscription's status is a ``Conflict``."""

    gateway: FakePaymentGateway
    clock: FakeClock
    amount: Money = MONTHLY
    _payments: int = 0

    def info(self, subscription_id: str) -> SubscriptionInfo:
        [found] = [s for s in self.gateway.subscriptions() if s.id == subscription_id]
        return found

    def _payment_id(self) -> str:
        self._payments += 1
        return f"pa_sim{self._payments:04d}_{uuid.uuid4().hex[:8]}"

    def _apply(self, move: model.Move) -> list[dict[str, object]]:
        self.gateway.put_subscription(move.subscription)
        payment_id = self._payment_id() if move.charge is not None else None
        return model.move_payloads(
            move, self.clock.now(), customer=CUSTOMER, amount=self.amount, payment_id=payment_id
        )

    def _at_period_end(self, subscription_id: str) -> SubscriptionInfo:
        """The provider charges when the period ends: the clock is moved there if earlier."""
        info = self.info(subscription_id)
        assert info.current_period_end is not None
        self.clock.current = max(self.clock.current, info.current_period_end)
        return info

    def pay_checkout(
        self, checkout_id: str, *, honour_trial: bool = False
    ) -> tuple[str, list[dict[str, object]]]:
        """The customer pays the recurring checkout: the subscription starts, active for a
        month (``honour_trial``: for the checkout's free trial, if any; the first charge
        falls when it ends). Returns its ``su_...`` id and the two events (first payment, create)."""
        payment_id = self._payment_id()
        trial = self.gateway.request_for(checkout_id).free_trial if honour_trial else None
        checkout = self.gateway.pay(checkout_id, payment_id=payment_id)
        assert checkout.subscription_id is not None
        now = self.clock.now()
        subscription_id = checkout.subscription_id
        first_end = model.first_period_end(now, trial, fake_period)
        self.gateway.put_subscription(
            attrs.evolve(
                self.info(subscription_id),
                current_period_start=now,
                current_period_end=first_end,
                next_payment_attempt_at=first_end,
            )
        )
        return subscription_id, [
            subscription_payment_payload(
                subscription_id,
                payment_id,
                created_at=now,
                amount=self.amount,
                checkout_id=checkout_id,
                metadata=checkout.metadata,
            ),
            subscription_event_payload(subscription_id, model.SUBSCRIPTION_CREATED, created_at=now),
        ]

    def renew(self, subscription_id: str) -> list[dict[str, object]]:
        """The period ends and the renewal is charged: a new period, paid."""
        info = self._at_period_end(subscription_id)
        return self._apply(model.renew(info, self.clock.now(), period=fake_period))

    def fail_renewal(self, subscription_id: str) -> list[dict[str, object]]:
        """The period ends and the renewal charge fails: the provider opens the new period
        unpaid (past_due) and retries in 3 days."""
        info = self._at_period_end(subscription_id)
        return self._apply(model.fail(info, self.clock.now(), period=fake_period))

    def recover(self, subscription_id: str) -> list[dict[str, object]]:
        """A retry of a past_due subscription succeeds: active again, the period paid."""
        return self._apply(model.recover(self.info(subscription_id)))

    def cancel(self, subscription_id: str) -> list[dict[str, object]]:
        """Cancelled at the provider (by the customer there, an operator, or after the
        retries ran out); for one the app cancelled, the webhook the provider sends about it."""
        return self._apply(model.cancel(self.info(subscription_id), announce_api_cancel=True))

    def unable_to_start(self, subscription_id: str) -> list[dict[str, object]]:
        """The provider could not (re)start it (a resumed one whose charge is refused)."""
        return self._apply(model.unable_to_start(self.info(subscription_id)))

    def pause(
        self, subscription_id: str, *, event_type: str = "subscription.pause"
    ) -> list[dict[str, object]]:
        return self._apply(model.pause(self.info(subscription_id), event_type=event_type))

    def unpause(
        self, subscription_id: str, *, event_type: str = "subscription.unpause"
    ) -> list[dict[str, object]]:
        """Unpaused (or reactivated): active again for the period the provider reports."""
        return self._apply(model.unpause(self.info(subscription_id), event_type=event_type))


@attrs.define
class SubscriptionsWorld:
    """``payments_world`` plus subscriptions: the service, its webhook handler plugged
    into ``webhooks``, the sweep and a provider simulator."""

    payments: PaymentsWorld
    subscriptions: SubscriptionService
    sweep: LifecycleSweep
    provider: ProviderSimulator
    config: SubscriptionConfig
    archiver: SiteArchiver

    @property
    def clock(self) -> FakeClock:
        return self.payments.clock

    @property
    def uow(self) -> FakeUnitOfWorkFactory:
        return self.payments.uow

    @property
    def gateway(self) -> FakePaymentGateway:
        return self.payments.gateway

    @property
    def store(self) -> _Store:
        return self.payments.store

    def deliver(self, payload: Mapping[str, object] | bytes, message_id: str | None = None) -> WebhookOutcome:
        return self.payments.deliver(payload, message_id)

    def owned_site(
        self, slug: str = "casa-rosa", email: str = OWNER, business_name: str = "Casa Rosa"
    ) -> Site:
        """A preview bought by ``email`` (an account is created): an owned site."""
        self.payments.preview(slug, business_name)
        started = self.payments.purchases.start(slug, email)
        outcome = self.deliver(self.payments.paid_payload(started.checkout_id, customer_email=email))
        assert outcome is WebhookOutcome.PROCESSED
        return self.site(slug)

    def site(self, slug: str = "casa-rosa") -> Site:
        return self.payments.site(slug)

    def owner_id(self, slug: str = "casa-rosa") -> uuid.UUID:
        owner = self.site(slug).owner_id
        assert owner is not None
        return owner

    def subscription(self, subscription_id: uuid.UUID) -> Subscription:
        return self.store.subscriptions[subscription_id]

    def subscribe(self, slug: str = "casa-rosa") -> tuple[Subscription, str]:
        """Start a subscription and pay its checkout at the provider, delivering both
        events: an active subscription and its ``su_...`` id."""
        started = self.subscriptions.start(self.owner_id(slug), slug)
        provider_id, events = self.provider.pay_checkout(started.checkout_id)
        for event in events:
            self.deliver(event)
        return self.subscription(started.subscription_id), provider_id

    def mails(self, template: EmailTemplate | None = None) -> list[OutboxMessage]:
        return self.payments.mails(template)


def subscriptions_world(
    *, owned_hosting_days: int = 30, admin_email: str | None = ADMIN_EMAIL, **config: Any
) -> SubscriptionsWorld:
    """``payments_world`` seen from the subscriptions side; ``config`` overrides
    ``SubscriptionConfig`` fields."""
    payments = payments_world(
        admin_email=admin_email, owned_hosting_days=owned_hosting_days, subscription=config
    )
    use = payments.use
    return SubscriptionsWorld(
        payments=payments,
        subscriptions=use.subscriptions,
        sweep=use.sweep,
        provider=ProviderSimulator(payments.gateway, payments.clock),
        config=use.subscriptions.config,
        archiver=use.archiver,
    )
