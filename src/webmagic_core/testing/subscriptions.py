"""Subscriptions on fakes: a wired world, and a provider that moves first and then tells.

``ProviderSimulator`` changes the ``FakePaymentGateway``'s subscription the way
Recurrente would (renewal, failed renewal, recovery, pause, cancel...) and returns the
webhook bodies it would send about the change, for a test to deliver in any order, any
number of times, or never.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.money import Money
from webmagic_core.outbox import OutboxMessage
from webmagic_core.payments import provider_rules as rules
from webmagic_core.payments.events import PAYMENT_FAILED, PAYMENT_SUCCEEDED
from webmagic_core.payments.gateway import SubscriptionInfo, SubscriptionStatus
from webmagic_core.payments.subscriptions import Subscription
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.services.archiving import SiteArchiver
from webmagic_core.services.subscriptions import SubscriptionConfig, SubscriptionService
from webmagic_core.services.sweep import LifecycleSweep
from webmagic_core.sites import Site
from webmagic_core.testing.fakes import FakeClock, FakeUnitOfWorkFactory, _Store
from webmagic_core.testing.payments import (
    ADMIN_EMAIL,
    PUBLIC_URL,
    SITES_URL,
    FakePaymentGateway,
    PaymentsWorld,
    payments_world,
)

MONTHLY = Money(9500, "USD")
PERIOD = dt.timedelta(days=30)
RETRY_AFTER = dt.timedelta(days=3)
OWNER = "rosa@example.com"


# The bodies are ``provider_rules``' (what the sandbox sends too), with a customer filled in.
_CUSTOMER: dict[str, str] = {"customer_id": "us_fake", "customer_name": "Rosa Díaz"}


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
    return rules.subscription_event_payload(
        subscription_id,
        event_type,
        created_at=created_at,
        customer_email=customer_email,
        payment_id=payment_id,
        **_CUSTOMER,
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
    return rules.subscription_payment_payload(
        subscription_id,
        payment_id,
        created_at=created_at,
        amount=amount,
        customer_email=customer_email,
        event_type=event_type,
        failure_reason="card declined" if event_type == PAYMENT_FAILED else None,
        checkout_id=checkout_id,
        metadata=metadata,
        **_CUSTOMER,
    )


@attrs.define
class ProviderSimulator:
    """Recurrente's side of one or more subscriptions, on a ``FakePaymentGateway``."""

    gateway: FakePaymentGateway
    clock: FakeClock
    amount: Money = MONTHLY
    _payments: int = 0

    def info(self, subscription_id: str) -> SubscriptionInfo:
        [found] = [s for s in self.gateway.subscriptions() if s.id == subscription_id]
        return found

    def _put(self, subscription_id: str, **changes: Any) -> SubscriptionInfo:
        info = attrs.evolve(self.info(subscription_id), **changes)
        self.gateway.put_subscription(info)
        return info

    def _payment_id(self) -> str:
        self._payments += 1
        return f"pa_sim{self._payments:04d}_{uuid.uuid4().hex[:8]}"

    def pay_checkout(
        self, checkout_id: str, *, honour_trial: bool = False
    ) -> tuple[str, list[dict[str, object]]]:
        """The customer pays the recurring checkout: the subscription starts, active for a
        month (``honour_trial``: for the checkout's free trial, if any; the first charge
        falls when it ends). Returns its ``su_...`` id and the two events (first payment, create)."""
        payment_id = self._payment_id()
        trial = self.gateway.request_for(checkout_id).free_trial if honour_trial else None
        checkout = self.gateway.pay(checkout_id, payment_id=payment_id)
        assert checkout.paymentable_id is not None
        now = self.clock.now()
        subscription_id = checkout.paymentable_id
        first_end = rules.trial_end(now, trial) if trial is not None else now + PERIOD
        self._put(
            subscription_id,
            current_period_start=now,
            current_period_end=first_end,
            next_payment_attempt_at=first_end,
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
            subscription_event_payload(subscription_id, "subscription.create", created_at=now),
        ]

    def renew(self, subscription_id: str) -> list[dict[str, object]]:
        """The period ends and the renewal is charged: a new period, paid. The clock is
        moved to the period's end if it is earlier."""
        info = self.info(subscription_id)
        assert info.current_period_end is not None
        self.clock.current = max(self.clock.current, info.current_period_end)
        now = self.clock.now()
        self._put(
            subscription_id,
            status=SubscriptionStatus.ACTIVE,
            current_period_start=info.current_period_end,
            current_period_end=info.current_period_end + PERIOD,
            next_payment_attempt_at=info.current_period_end + PERIOD,
        )
        payment_id = self._payment_id()
        return [subscription_payment_payload(subscription_id, payment_id, created_at=now, amount=self.amount)]

    def fail_renewal(self, subscription_id: str) -> list[dict[str, object]]:
        """The period ends and the renewal charge fails: the provider opens the new period
        unpaid (past_due) and retries in 3 days."""
        info = self.info(subscription_id)
        assert info.current_period_end is not None
        self.clock.current = max(self.clock.current, info.current_period_end)
        now = self.clock.now()
        self._put(
            subscription_id,
            status=SubscriptionStatus.PAST_DUE,
            current_period_start=info.current_period_end,
            current_period_end=info.current_period_end + PERIOD,
            next_payment_attempt_at=now + RETRY_AFTER,
        )
        return [
            subscription_payment_payload(
                subscription_id,
                self._payment_id(),
                created_at=now,
                amount=self.amount,
                event_type=PAYMENT_FAILED,
            ),
            subscription_event_payload(subscription_id, "subscription.past_due", created_at=now),
        ]

    def recover(self, subscription_id: str) -> list[dict[str, object]]:
        """A retry of a past_due subscription succeeds: active again, the period paid."""
        info = self.info(subscription_id)
        assert info.status is SubscriptionStatus.PAST_DUE
        now = self.clock.now()
        self._put(
            subscription_id, status=SubscriptionStatus.ACTIVE, next_payment_attempt_at=info.current_period_end
        )
        payment_id = self._payment_id()
        return [subscription_payment_payload(subscription_id, payment_id, created_at=now, amount=self.amount)]

    def cancel(self, subscription_id: str) -> list[dict[str, object]]:
        """Cancelled at the provider (by the customer there, an operator, or after the
        retries ran out)."""
        now = self.clock.now()
        self._put(subscription_id, status=SubscriptionStatus.CANCELLED, next_payment_attempt_at=None)
        return [subscription_event_payload(subscription_id, "subscription.cancel", created_at=now)]

    def unable_to_start(self, subscription_id: str) -> list[dict[str, object]]:
        """The provider could not (re)start it (a resumed one whose charge is refused)."""
        now = self.clock.now()
        self._put(subscription_id, status=SubscriptionStatus.UNABLE_TO_START, next_payment_attempt_at=None)
        return [subscription_event_payload(subscription_id, "subscription.unable_to_start", created_at=now)]

    def pause(
        self, subscription_id: str, *, event_type: str = "subscription.pause"
    ) -> list[dict[str, object]]:
        now = self.clock.now()
        self._put(subscription_id, status=SubscriptionStatus.PAUSED, next_payment_attempt_at=None)
        return [subscription_event_payload(subscription_id, event_type, created_at=now)]

    def unpause(
        self, subscription_id: str, *, event_type: str = "subscription.unpause"
    ) -> list[dict[str, object]]:
        """Unpaused (or reactivated): active again for the period the provider reports."""
        info = self.info(subscription_id)
        now = self.clock.now()
        self._put(
            subscription_id, status=SubscriptionStatus.ACTIVE, next_payment_attempt_at=info.current_period_end
        )
        return [subscription_event_payload(subscription_id, event_type, created_at=now)]


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
    """Every purchase and subscription service wired on fakes; ``config`` overrides
    ``SubscriptionConfig`` fields."""
    payments = payments_world(admin_email=admin_email, owned_hosting_days=owned_hosting_days)
    subscription_config = SubscriptionConfig(
        **{
            "price": MONTHLY,
            "public_url": PUBLIC_URL,
            "sites_base_url": SITES_URL,
            "owned_hosting_days": owned_hosting_days,
            **config,
        }
    )
    service = SubscriptionService(
        uow=payments.uow,
        clock=payments.clock,
        gateway=payments.gateway,
        renderer=payments.renderer,
        anomalies=AnomalyReporter(payments.renderer, admin_email=admin_email),
        config=subscription_config,
    )
    payments.webhooks.subscriptions = service
    archiver = SiteArchiver(payments.purchases, service)
    return SubscriptionsWorld(
        payments=payments,
        subscriptions=service,
        sweep=LifecycleSweep(service, archiver=archiver, purchases=payments.purchases),
        provider=ProviderSimulator(payments.gateway, payments.clock),
        config=subscription_config,
        archiver=archiver,
    )
