"""Helpers of the CLI tests of subscriptions (test_subscriptions_cli.py, test_lifecycle_cli.py,
test_stats_cli.py), on a ``Shop`` (see cli_payments_support): its fake gateway plays the
provider through ``ProviderSimulator``, which changes a subscription first and returns the
webhooks it would send, for a test to deliver or to lose."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from cli_payments_support import Shop

from webmagic_core.payments.subscriptions import Subscription
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.sites import Site
from webmagic_core.testing.subscriptions import ProviderSimulator


def simulator(shop: Shop) -> ProviderSimulator:
    return ProviderSimulator(shop.gateway, shop.clock)


def site(shop: Shop, slug: str) -> Site:
    return shop.container.sites.details(slug).site


def owner_of(shop: Shop, slug: str) -> uuid.UUID:
    owner = site(shop, slug).owner_id
    assert owner is not None, f"{slug} has no owner"
    return owner


def deliver_all(shop: Shop, events: Iterable[Mapping[str, object]]) -> None:
    for event in events:
        _, outcome = shop.deliver(event)
        assert outcome is WebhookOutcome.PROCESSED, event


def subscribe(shop: Shop, provider: ProviderSimulator, slug: str) -> tuple[Subscription, str]:
    """``slug`` bought, its subscription started and paid at the provider, both webhooks
    delivered: an active subscription and its ``su_...`` id."""
    shop.buy(slug, slug.replace("-", " ").title())
    shop.later()
    started = shop.container.subscriptions.start(owner_of(shop, slug), slug)
    shop.later()
    provider_id, events = provider.pay_checkout(started.checkout_id)
    deliver_all(shop, events)
    return shop.container.subscriptions.find(provider_id), provider_id
