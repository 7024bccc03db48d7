"""What an owner may see of their site's past: its transitions, versions, subscriptions and
payments (never the webhooks, anomalies or emails of the operator's timeline). The portal
turns it into a human timeline."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import attrs

from webmagic_core.errors import NotFound
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.subscriptions import Subscription, SubscriptionPayment
from webmagic_core.ports import Clock, UnitOfWorkFactory
from webmagic_core.services.subscriptions import SubscriptionView, current_subscription
from webmagic_core.sites import Site, SiteEvent, SiteVersionSummary


@attrs.frozen
class OwnerHistory:
    site: Site
    events: Sequence[SiteEvent]  # oldest first
    versions: Sequence[SiteVersionSummary]  # newest first
    subscriptions: Sequence[Subscription]
    payments: Sequence[SubscriptionPayment]  # of every subscription of the site, newest first
    subscription: SubscriptionView | None  # the current one, as ``SubscriptionService.get`` gives it


@attrs.define
class OwnerHistoryService:
    uow: UnitOfWorkFactory
    clock: Clock

    def for_owner(self, customer_id: uuid.UUID, slug: str) -> OwnerHistory:
        """The history of ``customer_id``'s site ``slug`` and its current subscription, read
        in one unit of work; anyone else's site, an archived or an unknown one is the same
        ``NotFound``."""
        with self.uow() as uow:
            site = uow.sites.get_by_slug(slug)
            if site is None or site.owner_id != customer_id or site.status is SiteStatus.ARCHIVED:
                raise NotFound(f"no site has the slug {slug!r}")
            subscriptions = uow.subscriptions.for_site(site.id)
            payments = [p for s in subscriptions for p in uow.subscriptions.payments(s.id)]
            payments.sort(key=lambda p: p.order_key, reverse=True)
            current = current_subscription(subscriptions, self.clock.now())
            return OwnerHistory(
                site=site,
                events=uow.sites.events(site.id),
                versions=uow.sites.version_summaries(site.id),
                subscriptions=subscriptions,
                payments=payments,
                subscription=SubscriptionView(site.slug, current, tuple(payments)) if current else None,
            )
