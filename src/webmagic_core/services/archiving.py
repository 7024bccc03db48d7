"""Archiving a site (an operator's decision): it stops being served, stops being billed and
stops being for sale, all at once.

``archive`` archives the site, cancels what is pending (purchases holding it, subscription
checkouts not paid yet), mails the owner and, for each live subscription, records an
anomaly saying what was paid for the current period (refunds are the operator's call), in
one transaction. Then, outside it, it cancels those subscriptions at the provider and
closes the checkouts nobody may pay any more. A provider that cannot be reached does not
undo the archive: ``ArchiveResult.not_cancelled`` says which subscriptions are still to be
cancelled, and the lifecycle sweep cancels them (``cancel_archived``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence

import attrs

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import NotFound, TransientError
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.payments.gateway import GatewayError, GatewayNotFound
from webmagic_core.payments.subscriptions import Subscription, SubscriptionState
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.publishing import request_publish
from webmagic_core.services.purchases import PurchaseService
from webmagic_core.services.subscriptions import SubscriptionService
from webmagic_core.services.webhooks import Handled, run_after_commit
from webmagic_core.sites import Actor, Site

log = logging.getLogger(__name__)


@attrs.frozen
class ArchiveResult:
    site: Site
    cancelled: tuple[str, ...] = ()  # provider subscriptions cancelled now
    not_cancelled: tuple[str, ...] = ()  # could not be cancelled now: the sweep retries


@attrs.define
class SiteArchiver:
    purchases: PurchaseService
    subscriptions: SubscriptionService

    def archive(
        self, slug: str, *, actor: Actor = Actor.ADMIN, cause: str = "archived by an operator"
    ) -> ArchiveResult:
        """``NotFound`` for an unknown or already archived site."""
        service = self.subscriptions
        now = service.clock.now()
        with service.uow() as uow:
            site = uow.sites.get_by_slug(slug, for_update=True)
            if site is None or site.status is SiteStatus.ARCHIVED:
                raise NotFound(f"no live site has the slug {slug!r}")
            before = site.status
            site.apply(Trigger.ARCHIVED, cause=cause, actor=actor, at=now)
            uow.sites.save(site)
            request_publish(uow, site.id, now)
            closing = list(self.purchases.release_others(uow, site.id, now, "the site was archived"))
            live: list[Subscription] = []
            for sub in uow.subscriptions.for_site(site.id):
                if sub.status is SubscriptionState.PENDING:
                    sub.mark_expired(now)
                    uow.subscriptions.save(sub)
                    if sub.checkout_id is not None:
                        closing.append(self.purchases.closer(sub.checkout_id))
                elif sub.is_live and sub.provider_id is not None:
                    live.append(sub)
                    service.anomalies.report(
                        uow, _paid_time_anomaly(site, sub, now), now, site_slug=site.slug, reference=cause
                    )
            if site.owner_id is not None:
                paid = max((s.paid_through for s in live if s.paid_through and s.covers(now)), default=None)
                service.handler.mail(
                    uow,
                    EmailTemplate.SITE_ARCHIVED,
                    site.owner_id,
                    {
                        "business_name": site.business_name,
                        "archived_on": now.date(),
                        "paid_through": paid.date() if paid is not None else None,
                    },
                    now,
                    site.id,
                )
            uow.commit()
        log.info("site %s archived (was %s): %d live subscription(s)", slug, before.value, len(live))
        run_after_commit(Handled(WebhookOutcome.PROCESSED, after_commit=tuple(closing)))
        cancelled, failed = self._cancel_all([s.id for s in live], reference=f"archive:{slug}")
        return ArchiveResult(site, cancelled, failed)

    def cancel_archived(self, *, limit: int = 200) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Cancel at the provider every live subscription of an archived site (the ones a
        failed call left live, and any a late event brought back): (cancelled, failed)."""
        service = self.subscriptions
        ids: list[uuid.UUID] = []
        with service.uow() as uow:
            for status in (SubscriptionState.ACTIVE, SubscriptionState.PAST_DUE, SubscriptionState.PAUSED):
                for sub in uow.subscriptions.list(status=status, limit=limit):
                    site = uow.sites.get(sub.site_id)
                    if site is not None and site.status is SiteStatus.ARCHIVED and sub.provider_id:
                        ids.append(sub.id)
        return self._cancel_all(ids, reference="sweep")

    def _cancel_all(
        self, subscription_ids: Sequence[uuid.UUID], *, reference: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        cancelled: list[str] = []
        failed: list[str] = []
        for subscription_id in subscription_ids:
            done = self._cancel_one(subscription_id)
            if done is not None:
                (cancelled if done[1] else failed).append(done[0])
        if cancelled or failed:
            log.info("%s: cancelled %s, still to cancel %s", reference, cancelled, failed)
        return tuple(cancelled), tuple(failed)

    def _cancel_one(self, subscription_id: uuid.UUID) -> tuple[str, bool] | None:
        """(provider id, whether it is cancelled now), or None when there is nothing to do."""
        service = self.subscriptions
        with service.uow() as uow:
            sub = uow.subscriptions.get(subscription_id)
        if sub is None or sub.provider_id is None:
            return None
        try:
            service.gateway.cancel_subscription(sub.provider_id)
        except GatewayNotFound:
            return sub.provider_id, True  # nothing to bill any more
        except (GatewayError, TransientError) as error:
            log.warning(
                "subscription %s of an archived site not cancelled: %s", sub.provider_id, error.detail
            )
            return sub.provider_id, False
        service.sync_one(subscription_id)  # applies the cancellation (read after the call)
        return sub.provider_id, True


def _paid_time_anomaly(site: Site, sub: Subscription, now: dt.datetime) -> Anomaly:
    paid = sub.paid_through
    left = (
        f"paid through {paid.date().isoformat()}" if paid is not None and paid > now else "no paid time left"
    )
    return Anomaly.new(
        AnomalyKind.ARCHIVED_WHILE_PAID,
        f"{AnomalyKind.ARCHIVED_WHILE_PAID.value}:{sub.provider_id}",
        f"site {site.slug} archived with subscription {sub.provider_id} {sub.status.value}: {left}",
        f"Subscription {sub.provider_id} ({sub.amount}/month) was cancelled at the provider "
        f"because the site was archived; {left}.\n"
        "Whether to refund the current period is your call: refund it at the provider "
        "(POST /refunds with the payment id) or not, then resolve this anomaly.",
        now,
        site_id=site.id,
    )
