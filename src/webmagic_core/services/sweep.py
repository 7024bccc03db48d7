"""The lifecycle sweep (``webmagic lifecycle sweep``, and periodically inside ``webmagic
serve``): the transitions that time, not a webhook, brings about.

1. Included hosting: an owned site (bought, no subscription started) is served for
   ``owned_hosting_days`` after ``purchased_at``; its owner is mailed 7 days and 1 day
   before the end (each reminder once: a ``Notice`` with a unique key records it), and at
   the end it is suspended (``hosting_expired``, ``site_suspended`` mail).
2. Paid time over: a cancelled subscription whose ``paid_through`` has passed is marked
   ended and its site suspended (``subscription_ended``), unless another subscription of
   the site keeps it online.
3. Missed webhooks: a past_due subscription (the provider is retrying), a paused one (an
   unpause may have been lost), or an active one whose period ended more than
   ``sync_grace`` ago (its renewal or the failure should have been reported), that was
   not read for ``sync_interval``, is read from the provider and converged; and every
   other non-final one not read for ``reread_interval`` (a lost reactivate or
   ``unable_to_start``), at most ``batch_size`` per run. So a past_due subscription that
   the provider cancelled after its retries gets its site suspended even if the cancel
   event never arrives.
4. Pending checkouts: each is asked about (``get_checkout``): paid ones start, unpaid ones
   past their hold expire; test keys may send no webhooks at all.
5. Archived sites: a live subscription of an archived site (its cancel call failed, or a
   late event brought it back) is cancelled at the provider.
6. Purchases (at most every ``reconcile_every``): ``PurchaseService.reconcile`` asks the
   provider about pending purchases, holds closed in the last days and its checkout list,
   so a payment whose webhook was lost is found without an operator.

Safe to run from several processes at once, and again and again: every site is handled
in a unit of work of its own that locks the site row, re-reads what it decides on, and
acts only if it still holds; reminders are unique by key. Nothing is ever deleted: a
suspended site keeps every version and comes back as it was.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import uuid
from collections.abc import Callable

import attrs

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import Conflict, TransientError, WebMagicError
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.payments.subscriptions import Notice, NoticeKind, SubscriptionState
from webmagic_core.services.archiving import SiteArchiver
from webmagic_core.services.publishing import request_publish
from webmagic_core.services.purchases import PurchaseService, ReconcileResult
from webmagic_core.services.subscriptions import SiteTarget, SubscriptionService, SyncResult
from webmagic_core.sites import Actor

log = logging.getLogger(__name__)

REFERENCE = "sweep"
REMINDERS = (
    (NoticeKind.HOSTING_ENDING_1_DAY, dt.timedelta(days=1)),
    (NoticeKind.HOSTING_ENDING_7_DAYS, dt.timedelta(days=7)),
)


class _Outcome(enum.Enum):
    NOTHING = "nothing"
    REMINDED = "reminded"
    EXPIRED = "expired"
    SETTLED = "settled"


@attrs.frozen
class SweepReport:
    reminders_sent: int = 0
    hosting_expired: int = 0  # owned sites suspended at the end of their included hosting
    subscriptions_ended: int = 0  # cancelled subscriptions whose paid time ran out
    sites_suspended: int = 0  # by any step of this run
    synced: int = 0  # subscriptions read from the provider and applied
    checkouts_expired: int = 0
    archived_cancelled: int = 0  # subscriptions of archived sites cancelled at the provider
    purchases_paid: int = 0  # payments found by reconciliation (applied, or anomalies)
    errors: tuple[str, ...] = ()

    def __add__(self, other: SweepReport) -> SweepReport:
        return SweepReport(*(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True)))


@attrs.define
class LifecycleSweep:
    subscriptions: SubscriptionService
    batch_size: int = 200
    sync_grace: dt.timedelta = dt.timedelta(hours=6)
    sync_interval: dt.timedelta = dt.timedelta(hours=6)
    reread_interval: dt.timedelta = dt.timedelta(hours=24)
    archiver: SiteArchiver | None = None
    purchases: PurchaseService | None = None
    reconcile_every: dt.timedelta = dt.timedelta(hours=1)
    _reconciled_at: dt.datetime | None = attrs.field(default=None, init=False)
    # Housekeeping: clear customers' last-login addresses past their retention.
    forget_old_addresses: Callable[[], int] | None = None

    def run(self, now: dt.datetime | None = None) -> SweepReport:
        """One pass over every step; each item's failure is reported, never fatal."""
        now = now or self.subscriptions.clock.now()
        report = self._hosting(now)
        report += self._ending(now)
        report += self._sync(now)
        report += self._pending()
        report += self._archived()
        report += self._reconcile(now)
        self._forget_addresses()
        if report != SweepReport():
            log.info("lifecycle sweep: %s", report)
        return report

    def _forget_addresses(self) -> None:
        if self.forget_old_addresses is None:
            return
        try:
            cleared = self.forget_old_addresses()
        except Exception:  # a housekeeping failure must not stop the sweep
            log.exception("lifecycle sweep: clearing old login addresses failed")
            return
        if cleared:
            log.info("lifecycle sweep: %d old login address(es) forgotten", cleared)

    # 1. included hosting

    def _hosting(self, now: dt.datetime) -> SweepReport:
        days = self.subscriptions.config.owned_hosting_days
        if days <= 0:
            return SweepReport()
        with self.subscriptions.uow() as uow:
            owned = uow.sites.list(status=SiteStatus.OWNED)
        report = SweepReport()
        for site in owned:
            if site.purchased_at is None or now < site.purchased_at + dt.timedelta(days=days - 7):
                continue
            try:
                outcome = self._hosting_one(site.id, now, dt.timedelta(days=days))
            except (Conflict, TransientError) as error:
                report += SweepReport(errors=(f"site {site.slug}: {error.detail}",))
                continue
            report += SweepReport(
                reminders_sent=int(outcome is _Outcome.REMINDED),
                hosting_expired=int(outcome is _Outcome.EXPIRED),
                sites_suspended=int(outcome is _Outcome.EXPIRED),
            )
        return report

    def _hosting_one(self, site_id: uuid.UUID, now: dt.datetime, included: dt.timedelta) -> _Outcome:
        service, handler = self.subscriptions, self.subscriptions.handler
        with service.uow() as uow:
            site = uow.sites.get(site_id, for_update=True)
            if site is None or site.status is not SiteStatus.OWNED or site.purchased_at is None:
                return _Outcome.NOTHING  # changed meanwhile
            if site.owner_id is None:
                return _Outcome.NOTHING
            target = handler.target(uow, site, now)
            if target in (SiteTarget.ACTIVE, SiteTarget.PAST_DUE):
                # A started subscription not applied to the site yet: apply it instead.
                handler.settle(
                    uow, site, now, actor=Actor.SYSTEM, reference=REFERENCE, cause="subscription started"
                )
                uow.commit()
                return _Outcome.SETTLED
            ends = site.purchased_at + included
            if now >= ends:
                site.apply(
                    Trigger.HOSTING_EXPIRED,
                    cause=f"the included hosting ended on {ends.date().isoformat()}",
                    actor=Actor.SYSTEM,
                    at=now,
                    reference=REFERENCE,
                )
                uow.sites.save(site)
                request_publish(uow, site.id, now)
                handler.site_mail(uow, site, SiteStatus.OWNED, now)
                uow.commit()
                return _Outcome.EXPIRED
            kind = next(kind for kind, before in REMINDERS if now >= ends - before)
            notice = Notice.hosting_ending(kind, site.id, ends, now)
            if uow.notices.get(notice.key) is not None:
                return _Outcome.NOTHING
            uow.notices.add(notice)
            handler.mail(
                uow,
                EmailTemplate.HOSTING_ENDING_SOON,
                site.owner_id,
                {
                    "business_name": site.business_name,
                    "site_url": service.config.site_url(site.slug),
                    "ends_on": ends.date(),
                    "subscribe_url": service.config.manage_url(site.slug),
                },
                now,
                site.id,
            )
            uow.commit()
            return _Outcome.REMINDED

    # 2. paid time over

    def _ending(self, now: dt.datetime) -> SweepReport:
        with self.subscriptions.uow() as uow:
            ending = uow.subscriptions.ending(now, limit=self.batch_size)
        report = SweepReport()
        for found in ending:
            try:
                report += self._end_one(found.id, now)
            except (Conflict, TransientError) as error:
                report += SweepReport(errors=(f"subscription {found.id}: {error.detail}",))
        return report

    def _end_one(self, subscription_id: uuid.UUID, now: dt.datetime) -> SweepReport:
        handler = self.subscriptions.handler
        with self.subscriptions.uow() as uow:
            found = uow.subscriptions.get(subscription_id)
            if found is None:  # pragma: no cover - subscriptions are never deleted
                return SweepReport()
            site = uow.sites.get(found.site_id, for_update=True)
            sub = uow.subscriptions.get(subscription_id, for_update=True)
            if sub is None or not sub.close_if_over(now):
                return SweepReport()  # ended, reactivated or credited meanwhile
            uow.subscriptions.save(sub)
            suspended = False
            if site is not None:
                settled = handler.settle(
                    uow,
                    site,
                    now,
                    actor=Actor.SYSTEM,
                    reference=REFERENCE,
                    cause=f"subscription {sub.provider_id} ended: its paid time is over",
                )
                suspended = (
                    settled.after is SiteStatus.SUSPENDED and settled.before is not SiteStatus.SUSPENDED
                )
            uow.commit()
        return SweepReport(subscriptions_ended=1, sites_suspended=int(suspended))

    # 3. missed webhooks

    def _sync(self, now: dt.datetime) -> SweepReport:
        with self.subscriptions.uow() as uow:
            due = list(
                uow.subscriptions.due_for_sync(
                    period_ended_before=now - self.sync_grace,
                    synced_before=now - self.sync_interval,
                    limit=self.batch_size,
                )
            )
            if len(due) < self.batch_size:
                # Every live one, whatever its period, not read for a day.
                seen = {s.id for s in due}
                due += [
                    s
                    for s in uow.subscriptions.due_for_sync(
                        period_ended_before=dt.datetime.max.replace(tzinfo=dt.UTC),
                        synced_before=now - self.reread_interval,
                        limit=self.batch_size - len(due),
                    )
                    if s.id not in seen
                ]
        return self._sync_all([s.id for s in due])

    # 4. pending checkouts

    def _pending(self) -> SweepReport:
        with self.subscriptions.uow() as uow:
            pending = list(
                reversed(uow.subscriptions.list(status=SubscriptionState.PENDING, limit=self.batch_size))
            )
        return self._sync_all([s.id for s in pending])

    # 6. purchases

    def _reconcile(self, now: dt.datetime) -> SweepReport:
        if self.purchases is None:
            return SweepReport()
        if self._reconciled_at is not None and now - self._reconciled_at < self.reconcile_every:
            return SweepReport()
        self._reconciled_at = now
        found = self.purchases.reconcile(limit=self.batch_size)
        return SweepReport(
            purchases_paid=found.count(ReconcileResult.PAID) + found.count(ReconcileResult.ANOMALY),
            errors=tuple(
                f"purchase {item.purchase_id}: {item.detail}"
                for item in found.items
                if item.result is ReconcileResult.ERROR
            ),
        )

    # 5. archived sites

    def _archived(self) -> SweepReport:
        if self.archiver is None:
            return SweepReport()
        cancelled, failed = self.archiver.cancel_archived(limit=self.batch_size)
        return SweepReport(
            archived_cancelled=len(cancelled),
            errors=tuple(f"subscription {p} of an archived site: not cancelled yet" for p in failed),
        )

    def _sync_all(self, ids: list[uuid.UUID]) -> SweepReport:
        report = SweepReport()
        for subscription_id in ids:
            before = self._site_status(subscription_id)
            try:
                item = self.subscriptions.sync_one(subscription_id)
            except WebMagicError as error:
                report += SweepReport(errors=(f"subscription {subscription_id}: {error.detail}",))
                continue
            if item.result is SyncResult.ERROR:
                report += SweepReport(errors=(f"subscription {subscription_id}: {item.detail}",))
            after = self._site_status(subscription_id)
            report += SweepReport(
                synced=int(item.result is SyncResult.APPLIED),
                checkouts_expired=int(item.result is SyncResult.EXPIRED),
                sites_suspended=int(after is SiteStatus.SUSPENDED and before is not SiteStatus.SUSPENDED),
            )
        return report

    def _site_status(self, subscription_id: uuid.UUID) -> SiteStatus | None:
        with self.subscriptions.uow() as uow:
            sub = uow.subscriptions.get(subscription_id)
            site = uow.sites.get(sub.site_id) if sub is not None else None
        return site.status if site is not None else None
