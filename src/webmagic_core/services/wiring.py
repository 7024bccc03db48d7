"""The one place the money and account use cases are wired to each other.

``wire`` takes the ports (real adapters from ``webmagic_adapters.bootstrap``, or fakes in
the test worlds of ``webmagic_core.testing``) and the commercial terms, and returns the
services, each given the same collaborators whoever calls it: production and every test
world run the same object graph (the shape of cosmicpython's ``bootstrap``, kept in the
core so the in-memory worlds can call it without the adapters).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.ports import (
    Clock,
    EmailRenderer,
    Mailer,
    PasswordHasher,
    PaymentEventTranslator,
    PaymentGateway,
    RateLimiter,
    TokenSigner,
    UnitOfWorkFactory,
)
from webmagic_core.services.accounts import AccountLinks, AccountService, basic_normalize_email
from webmagic_core.services.anomalies import AnomalyReporter, AnomalyService
from webmagic_core.services.archiving import SiteArchiver
from webmagic_core.services.outbox import OutboxRelay
from webmagic_core.services.purchases import PurchaseConfig, PurchaseService
from webmagic_core.services.subscriptions import SubscriptionConfig, SubscriptionService
from webmagic_core.services.sweep import LifecycleSweep
from webmagic_core.services.webhooks import WebhookService


@attrs.frozen(kw_only=True)
class Ports:
    """What the money and account use cases need from outside."""

    uow: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway
    # Reads the provider's webhook bodies (the gateway's provider) as payment events.
    translator: PaymentEventTranslator
    mailer: Mailer
    renderer: EmailRenderer
    hasher: PasswordHasher
    signer: TokenSigner
    rate_limiter: RateLimiter
    policy: PasswordPolicy
    normalize_email: Callable[[str], str] = basic_normalize_email


@attrs.frozen(kw_only=True)
class Terms:
    """Prices, addresses and who is alerted: the settings the use cases run under."""

    purchase: PurchaseConfig
    subscription: SubscriptionConfig
    links: AccountLinks
    admin_email: str | None = None


@attrs.frozen(kw_only=True)
class UseCases:
    accounts: AccountService
    purchases: PurchaseService
    subscriptions: SubscriptionService
    webhooks: WebhookService
    anomalies: AnomalyService
    reporter: AnomalyReporter
    archiver: SiteArchiver
    relay: OutboxRelay
    sweep: LifecycleSweep


def wire(ports: Ports, terms: Terms, *, forget_old_addresses: Callable[[], int] | None = None) -> UseCases:
    """The services over ``ports``; ``forget_old_addresses`` is the sweep's housekeeping
    of customers' login addresses (the customers service, where there is one)."""
    uow, clock = ports.uow, ports.clock
    accounts = AccountService(
        uow=uow,
        clock=clock,
        hasher=ports.hasher,
        signer=ports.signer,
        policy=ports.policy,
        rate_limiter=ports.rate_limiter,
        links=terms.links,
        normalize_email=ports.normalize_email,
    )
    reporter = AnomalyReporter(admin_email=terms.admin_email)
    purchases = PurchaseService(
        uow=uow,
        clock=clock,
        gateway=ports.gateway,
        accounts=accounts,
        rate_limiter=ports.rate_limiter,
        anomalies=reporter,
        config=terms.purchase,
    )
    subscriptions = SubscriptionService(
        uow=uow,
        clock=clock,
        gateway=ports.gateway,
        anomalies=reporter,
        config=terms.subscription,
    )
    archiver = SiteArchiver(purchases, subscriptions)
    return UseCases(
        accounts=accounts,
        purchases=purchases,
        subscriptions=subscriptions,
        webhooks=WebhookService(
            uow=uow,
            clock=clock,
            translator=ports.translator,
            purchases=purchases,
            subscriptions=subscriptions,
            anomalies=reporter,
        ),
        anomalies=AnomalyService(uow=uow, clock=clock),
        reporter=reporter,
        archiver=archiver,
        relay=OutboxRelay(
            uow=uow, mailer=ports.mailer, clock=clock, renderer=ports.renderer, on_dead=reporter.outbox_dying
        ),
        sweep=LifecycleSweep(
            subscriptions, archiver=archiver, purchases=purchases, forget_old_addresses=forget_old_addresses
        ),
    )
