"""The subscription events' handler: converge a local subscription, and its site, to what
the provider says (see ``services.subscriptions`` for the rules)."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable, Mapping
from functools import partial

import attrs

from webmagic_core import events
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import NotFound
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.events import (
    PaymentEvent,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionChanged,
)
from webmagic_core.payments.gateway import (
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    PaymentGateway,
    SubscriptionInfo,
)
from webmagic_core.payments.subscriptions import (
    Observation,
    Subscription,
    SubscriptionPayment,
    SubscriptionState,
)
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.ports import Clock, UnitOfWork
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.services.outbox import queue_email
from webmagic_core.services.publishing import request_publish
from webmagic_core.services.sale_config import SubscriptionConfig
from webmagic_core.services.subscription_anomalies import (
    report_amount_mismatch,
    report_archived_payment,
    report_duplicate,
    report_unknown,
)
from webmagic_core.services.subscription_targets import (
    Settled,
    SiteTarget,
    plan,
    site_target,
)
from webmagic_core.services.webhooks import EventContext, Handled
from webmagic_core.sites import Actor, Site

log = logging.getLogger(__name__)


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


@attrs.frozen
class ProviderReading:
    """What ``SubscriptionEventHandler.prefetch`` read before the transaction: the provider
    subscription an event is about (None: the provider does not know it), read at
    ``read_at``."""

    provider_id: str | None
    info: SubscriptionInfo | None
    read_at: dt.datetime


@attrs.define
class SubscriptionEventHandler:
    """``EventHandler`` for subscription events (``WebhookService.subscriptions``), and the
    convergence that ``SubscriptionService`` and the sweep use too."""

    gateway: PaymentGateway
    anomalies: AnomalyReporter
    config: SubscriptionConfig

    clock: Clock | None = None

    def prefetch(self, event: PaymentEvent) -> ProviderReading | None:
        """Read the subscription ``event`` is about before any transaction is open (a slow
        provider must not hold the site row or a pooled connection). The handler applies
        this reading; the order of readings, not of deliveries, decides (stale ones are
        dropped by ``Subscription.observe``)."""
        match event:
            case SubscriptionChanged():
                provider_id: str | None = event.subscription_id
            case PaymentSucceeded() | PaymentFailed():
                provider_id = event.subscription_id or self._provider_id_of_checkout(event.checkout_id)
            case _:
                return None
        read_at = self.clock.now() if self.clock is not None else dt.datetime.now(dt.UTC)
        info = self._fetch(provider_id) if provider_id is not None else None
        return ProviderReading(provider_id, info, read_at)

    def handle(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        """Converge to the provider's subscription (see the module doc), as ``prefetch``
        read it before the transaction (without a reading, e.g. called directly, it is
        read here). A provider that cannot answer (``GatewayUnavailable``, or a refusal of
        a read, which is never the event's fault) rolls the delivery back: 503, and the
        provider delivers it again."""
        reading = context.prefetched if isinstance(context.prefetched, ProviderReading) else None
        if reading is not None:
            context = attrs.evolve(context, now=reading.read_at)
        provider_id: str | None
        checkout_id: str | None
        metadata: dict[str, str]
        match event:
            case SubscriptionChanged():
                provider_id, checkout_id, metadata = event.subscription_id, None, {}
            case PaymentSucceeded() | PaymentFailed():
                provider_id, checkout_id = event.subscription_id, event.checkout_id
                metadata = dict(event.metadata)
            case _:
                return Handled(WebhookOutcome.IGNORED, note=f"subscriptions do not act on {event.label}")

        if provider_id is None and reading is not None:
            provider_id = reading.provider_id
        found = self._find(uow, provider_id, checkout_id, metadata)
        if found is None and provider_id is not None:
            info = self._read(provider_id, reading)
            if info is not None and info.checkout_id is not None:
                found = uow.subscriptions.get_by_checkout(info.checkout_id)
        if found is None:
            return report_unknown(self.anomalies, uow, event, provider_id or checkout_id or "?", context)
        if provider_id is None:
            provider_id = found.provider_id
            if provider_id is None and reading is None:
                provider_id = self._provider_id_of_checkout(found.checkout_id)
            if provider_id is None:
                return report_unknown(self.anomalies, uow, event, checkout_id or str(found.id), context)

        # Lock the site row, then the subscription's (the order every path takes); the
        # reading was taken before (or, without one, is taken now).
        site = uow.sites.get(found.site_id, for_update=True)
        subscription = uow.subscriptions.get(found.id, for_update=True)
        if subscription is None:  # pragma: no cover - subscriptions are never deleted
            raise NotFound(f"subscription {found.id} vanished")
        info = self._read(provider_id, reading)
        if info is None:
            return report_unknown(self.anomalies, uow, event, provider_id, context)
        payment = event if isinstance(event, PaymentSucceeded) else None
        self.apply(uow, site, subscription, info, context, payment=payment)
        after: tuple[Callable[[], None], ...] = ()
        if site is not None and site.status is SiteStatus.ARCHIVED and subscription.is_live:
            # Nothing of an archived site may be billed: cancel it at the provider.
            after = (partial(self.gateway.cancel_subscription, provider_id),)
        return Handled(
            WebhookOutcome.PROCESSED,
            note=f"subscription {provider_id} is {subscription.status.value}",
            site_id=subscription.site_id,
            after_commit=after,
        )

    # converging

    def apply(
        self,
        uow: UnitOfWork,
        site: Site | None,
        subscription: Subscription,
        info: SubscriptionInfo,
        context: EventContext,
        *,
        payment: PaymentSucceeded | None = None,
    ) -> Observation:
        """Apply the provider's ``info`` (read at ``context.now``) and a payment, if any,
        to ``subscription`` (locked, like ``site``), save it, queue the mails its changes
        call for, and settle the site. The caller commits."""
        now = context.now
        observation = subscription.observe(info, now)
        if observation.started and subscription.is_live:
            report_duplicate(self.anomalies, uow, subscription, context)
        recorded = self._record_payment(uow, subscription, payment, now)
        uow.subscriptions.save(subscription)
        if recorded is not None and site is not None and site.status is SiteStatus.ARCHIVED:
            report_archived_payment(self.anomalies, uow, site, subscription, recorded, context)
        if recorded is not None and recorded.amount != subscription.amount:
            report_amount_mismatch(self.anomalies, uow, site, subscription, recorded, context)

        business_name = site.business_name if site is not None else "your site"
        slug = site.slug if site is not None else None
        if observation.started and subscription.status is SubscriptionState.ACTIVE and site is not None:
            self._started_mail(uow, subscription, site, now)
        if recorded is not None:
            self._receipt(uow, subscription, recorded, business_name, now)
        if observation.changed and not observation.stale:
            if subscription.status is SubscriptionState.PAST_DUE and slug is not None:
                self.mail(
                    uow,
                    EmailTemplate.PAYMENT_FAILED,
                    subscription.customer_id,
                    {
                        "business_name": business_name,
                        "amount": subscription.amount,
                        "manage_url": self.config.manage_url(slug),
                        "next_attempt_on": _date(subscription.next_payment_attempt_at),
                    },
                    now,
                    subscription.site_id,
                )
            elif subscription.status is SubscriptionState.CANCELLED:
                ends = subscription.paid_through if subscription.covers(now) else now
                self.mail(
                    uow,
                    EmailTemplate.SUBSCRIPTION_CANCELLED,
                    subscription.customer_id,
                    {
                        "business_name": business_name,
                        "ends_on": ends.date() if ends is not None else now.date(),
                        "resubscribe_url": self.config.manage_url(slug) if slug else None,
                    },
                    now,
                    subscription.site_id,
                )
        if site is not None:
            self.settle(
                uow,
                site,
                now,
                actor=context.actor,
                reference=context.reference,
                cause=f"subscription {subscription.provider_id} is {subscription.status.value}",
                prefer_unpause=observation.before is SubscriptionState.PAUSED,
            )
        if not observation.stale:
            uow.after_commit(
                functools.partial(
                    events.emit,
                    "subscription.changed",
                    f"subscription {subscription.id} ({subscription.provider_id}): "
                    f"{observation.before.value} -> {observation.after.value}",
                    subscription_id=subscription.id,
                    provider_id=subscription.provider_id,
                    site_id=subscription.site_id,
                    from_status=observation.before.value,
                    to_status=observation.after.value,
                    reference=context.reference,
                )
            )
        return observation

    def settle(
        self,
        uow: UnitOfWork,
        site: Site,
        now: dt.datetime,
        *,
        actor: Actor,
        reference: str | None,
        cause: str,
        prefer_unpause: bool = False,
    ) -> Settled:
        """Move ``site`` (locked) to what its subscriptions ask for at ``now``, along the
        lifecycle table, and queue ``site_suspended`` / ``site_restored``. The caller
        commits."""
        before = site.status
        if before in (SiteStatus.PREVIEW, SiteStatus.ARCHIVED):
            return Settled(before, before)
        target = self.target(uow, site, now)
        if target is None:
            return Settled(before, before)
        triggers = plan(before, target, prefer_unpause=prefer_unpause)
        for trigger in triggers:
            site.apply(trigger, cause=cause, actor=actor, at=now, reference=reference)
        if not triggers:
            return Settled(before, before)
        uow.sites.save(site)
        request_publish(uow, site.id, now)
        self.site_mail(uow, site, before, now)
        return Settled(before, site.status, tuple(triggers))

    @staticmethod
    def target(uow: UnitOfWork, site: Site, now: dt.datetime) -> SiteTarget | None:
        targets = [t for s in uow.subscriptions.for_site(site.id) if (t := site_target(s, now)) is not None]
        return max(targets, default=None)

    def site_mail(self, uow: UnitOfWork, site: Site, before: SiteStatus, now: dt.datetime) -> None:
        """``site_suspended`` when ``site`` went into suspended, ``site_restored`` when it
        came back from it."""
        if site.owner_id is None or before is site.status:
            return
        if site.status is SiteStatus.SUSPENDED:
            self.mail(
                uow,
                EmailTemplate.SITE_SUSPENDED,
                site.owner_id,
                {
                    "business_name": site.business_name,
                    "site_url": self.config.site_url(site.slug),
                    "reactivate_url": self.config.manage_url(site.slug),
                },
                now,
                site.id,
            )
        elif before is SiteStatus.SUSPENDED and site.status in (SiteStatus.ACTIVE, SiteStatus.PAST_DUE):
            self.mail(
                uow,
                EmailTemplate.SITE_RESTORED,
                site.owner_id,
                {"business_name": site.business_name, "site_url": self.config.site_url(site.slug)},
                now,
                site.id,
            )

    # pieces

    def _record_payment(
        self,
        uow: UnitOfWork,
        subscription: Subscription,
        payment: PaymentSucceeded | None,
        now: dt.datetime,
    ) -> SubscriptionPayment | None:
        """Record a payment once (by its payment id) and count the period it paid for."""
        if payment is None or payment.payment_id is None:
            return None
        if uow.subscriptions.get_payment(payment.payment_id) is not None:
            return None
        paid_at = min(payment.occurred_at or now, now)
        record = SubscriptionPayment(
            payment_id=payment.payment_id,
            subscription_id=subscription.id,
            amount=payment.amount,
            paid_at=paid_at,
            # Without the time it was made (a payment reconciled from a checkout), which
            # period it paid for is unknown: nothing is credited on a guess.
            period_end=subscription.period_paid_by(paid_at) if payment.occurred_at is not None else None,
            recorded_at=now,
        )
        uow.subscriptions.add_payment(record)
        subscription.credit(record.period_end, now)
        return record

    def _started_mail(
        self, uow: UnitOfWork, subscription: Subscription, site: Site, now: dt.datetime
    ) -> None:
        next_billing = subscription.next_payment_attempt_at or subscription.current_period_end
        if next_billing is None:
            log.warning("no next billing date for subscription %s: no started mail", subscription.id)
            return
        self.mail(
            uow,
            EmailTemplate.SUBSCRIPTION_STARTED,
            subscription.customer_id,
            {
                "business_name": site.business_name,
                "site_url": self.config.site_url(site.slug),
                "amount": subscription.amount,
                "next_billing_on": next_billing.date(),
            },
            now,
            site.id,
        )

    def _receipt(
        self,
        uow: UnitOfWork,
        subscription: Subscription,
        recorded: SubscriptionPayment,
        business_name: str,
        now: dt.datetime,
    ) -> None:
        """A receipt for every payment but the first (earliest) one of a subscription:
        ``recorded`` gets it unless it is the earliest so far; if it displaced an earlier
        "first", that one gets its receipt now. Each payment is displaced at most once,
        so each gets at most one receipt, whatever the order they are learnt in."""
        others = [
            p for p in uow.subscriptions.payments(subscription.id) if p.payment_id != recorded.payment_id
        ]
        if not others:
            return
        first = min(others, key=lambda p: p.order_key)
        due = first if recorded.order_key < first.order_key else recorded
        period_end = due.period_end or subscription.current_period_end
        if period_end is None:
            log.warning("no period end known for payment %s: no receipt", due.payment_id)
            return
        self.mail(
            uow,
            EmailTemplate.SUBSCRIPTION_RECEIPT,
            subscription.customer_id,
            {
                "business_name": business_name,
                "amount": due.amount,
                "paid_at": due.paid_at,
                "period_ends_on": period_end.date(),
                "reference": due.payment_id,
            },
            now,
            subscription.site_id,
        )

    def mail(
        self,
        uow: UnitOfWork,
        template: EmailTemplate,
        customer_id: uuid.UUID,
        data: Mapping[str, object],
        now: dt.datetime,
        site_id: uuid.UUID | None,
    ) -> bool:
        customer = uow.customers.get(customer_id)
        if customer is None:
            log.warning("customer %s not found: %s not sent", customer_id, template.value)
            return False
        queue_email(
            uow,
            template,
            customer.email,
            {**data, "full_name": customer.full_name},
            now,
            site_id=site_id,
        )
        return True

    def _find(
        self, uow: UnitOfWork, provider_id: str | None, checkout_id: str | None, metadata: Mapping[str, str]
    ) -> Subscription | None:
        found = uow.subscriptions.get_by_provider_id(provider_id) if provider_id is not None else None
        if found is None and checkout_id is not None:
            found = uow.subscriptions.get_by_checkout(checkout_id)
        if found is None and "subscription_id" in metadata:
            try:
                candidate = uow.subscriptions.get(uuid.UUID(metadata["subscription_id"]))
            except ValueError:
                candidate = None
            # Only if nothing contradicts it: the metadata is the provider's copy of ours.
            if candidate is not None and candidate.checkout_id in (None, checkout_id):
                found = candidate
        return found

    def _read(self, provider_id: str, reading: ProviderReading | None) -> SubscriptionInfo | None:
        if reading is None:
            return self._fetch(provider_id)
        if reading.provider_id != provider_id:
            # The local record names another provider subscription than the event did: read
            # that one before the transaction, on the next delivery.
            raise GatewayUnavailable(
                f"subscription {provider_id} was not read before applying the event; deliver it again"
            )
        return reading.info

    def _fetch(self, provider_id: str) -> SubscriptionInfo | None:
        """The provider's subscription; None when it does not know it. Any other failure
        is transient for the event (it is delivered again; the sweep re-reads too)."""
        try:
            return self.gateway.get_subscription(provider_id)
        except GatewayNotFound:
            return None
        except GatewayError as refusal:
            raise GatewayUnavailable(
                f"the provider refused to read {provider_id}: {refusal.detail}"
            ) from None

    def _provider_id_of_checkout(self, checkout_id: str | None) -> str | None:
        if checkout_id is None:
            return None
        try:
            info = self.gateway.get_checkout(checkout_id)
        except GatewayNotFound:
            return None
        except GatewayError as refusal:
            raise GatewayUnavailable(
                f"the provider refused to read {checkout_id}: {refusal.detail}"
            ) from None
        return info.subscription_id
