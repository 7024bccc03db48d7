"""The $95/month hosting subscription: start, show, cancel, and follow the provider.

The provider is the source of truth, and its webhooks arrive at least once, in any order.
So a subscription event is never applied as "what it says happened": on every event the
handler reads the subscription from the provider (``GET /subscriptions/{id}``) and
converges the local record to that answer (the approach of the Rails ``pay`` gem). An
older event delivered after a newer one then reads the same, current state: it cannot
undo anything. Readings are applied under the site's row lock and a reading older than
the last one applied is dropped, so two events processed concurrently cannot either.

What a site serves follows from its subscriptions (``site_target``): the best of what
each one asks for (active > past_due > paused > ended), moved along the lifecycle table
(``lifecycle.TRANSITIONS``) by the triggers that lead there, never set directly. A
cancelled subscription keeps its site online until its paid time is over; then the sweep
(``services.sweep``) suspends it.

Emails go out on changes only, so duplicates and reorderings never send one twice:

* ``subscription_started``: when a subscription is first seen started, if it is active;
* ``subscription_receipt``: once per payment, except the first payment of a
  subscription (the earliest paid one, which the started mail stands for); a payment
  learnt out of order gets its receipt as soon as it is known not to be the first;
* ``payment_failed``: when the status becomes past_due;
* ``subscription_cancelled`` (with the day the site goes offline): when the status
  becomes cancelled;
* ``site_suspended`` / ``site_restored``: when the site goes into suspended / comes
  back from it (these come from ``settle``, which the sweep uses too).

Time already paid for is never charged again: a subscription started while the site has
paid time left (the included hosting of a purchase, or the rest of a cancelled
subscription's period when resuming) starts with a free trial of the whole weeks or
months that fit in it, so the first charge falls at, never after, the end of that time
(``first_charge``; the started mail and the return page say the date). Days that do not
make a whole week are not carried over.

Paid time is honoured whatever ends a subscription: a cancelled one (by the customer, an
operator, or the provider after its retries) serves until ``paid_through``, even if it was
paused when cancelled. A period the provider opened for a renewal that failed is not
paid time, so a past_due subscription cancelled after its retries is suspended at once.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from urllib.parse import urlencode

import attrs

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.ports import EmailRenderer
from webmagic_core.errors import Conflict, NotFound, TransientError, WebMagicError
from webmagic_core.lifecycle import TRANSITIONS, SiteStatus, Trigger
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.payments.events import (
    SUBSCRIPTION_PAYMENTABLE,
    MalformedEvent,
    PaymentEvent,
    PaymentIntentFailed,
    PaymentIntentSucceeded,
    SubscriptionEvent,
)
from webmagic_core.payments.gateway import (
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    FreeTrial,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    PaymentGateway,
    SubscriptionInfo,
    SubscriptionStatus,
)
from webmagic_core.payments.provider_rules import trial_end, trial_within
from webmagic_core.payments.subscriptions import (
    DEFAULT_CHECKOUT_HOLD,
    Observation,
    Subscription,
    SubscriptionPayment,
    SubscriptionState,
)
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.ports import Clock, UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.services.outbox import queue_email
from webmagic_core.services.sale_config import SaleConfig, positive_duration
from webmagic_core.services.webhooks import EventContext, Handled
from webmagic_core.sites import Actor, Site
from webmagic_core.slugs import is_valid_slug

log = logging.getLogger(__name__)

# The customer's subscription page in the portal: return URLs and email links lead there.
PORTAL_SITES = "/portal/sites"
NO_SUBSCRIPTION = "this site has no subscription"


@attrs.frozen
class SubscriptionConfig(SaleConfig):
    """``price`` is the monthly one (WEBMAGIC_SUBSCRIPTION_PRICE_CENTS + currency)."""

    checkout_hold: dt.timedelta = attrs.field(default=DEFAULT_CHECKOUT_HOLD, validator=positive_duration)

    def manage_url(self, slug: str) -> str:
        """The portal page of a site's subscription (start, status, cancel)."""
        return f"{self.public_url}{PORTAL_SITES}/{slug}/subscription"

    def success_url(self, slug: str, subscription_id: uuid.UUID) -> str:
        query = urlencode({"checkout": "done", "subscription": str(subscription_id)})
        return f"{self.manage_url(slug)}?{query}"

    def cancel_url(self, slug: str, subscription_id: uuid.UUID) -> str:
        query = urlencode({"checkout": "cancelled", "subscription": str(subscription_id)})
        return f"{self.manage_url(slug)}?{query}"


@attrs.frozen
class SubscriptionCheckout:
    subscription_id: uuid.UUID
    checkout_id: str
    checkout_url: str
    expires_at: dt.datetime
    # When the provider charges first: the end of the free trial, or at the checkout.
    first_charge_at: dt.datetime | None = None


@attrs.frozen
class SubscriptionView:
    """A site's current subscription (see ``current_subscription``) and the payments of
    every subscription the site has had, newest first."""

    site_slug: str
    subscription: Subscription
    payments: tuple[SubscriptionPayment, ...]

    @property
    def status(self) -> SubscriptionState:
        return self.subscription.status

    @property
    def current_period_end(self) -> dt.datetime | None:
        return self.subscription.current_period_end

    @property
    def next_payment_attempt_at(self) -> dt.datetime | None:
        return self.subscription.next_payment_attempt_at

    @property
    def cancel_at_period_end(self) -> bool:
        return self.subscription.cancel_at_period_end

    @property
    def ends_at(self) -> dt.datetime | None:
        """When the site goes (or went) offline because the subscription was cancelled:
        the end of its paid time, or when it ended; None while nothing is scheduled."""
        sub = self.subscription
        if sub.status is not SubscriptionState.CANCELLED:
            return None
        return sub.ended_at or sub.paid_through or sub.cancelled_at


class SyncResult(enum.StrEnum):
    APPLIED = "applied"  # the provider's state was read and applied
    EXPIRED = "expired"  # a pending checkout past its hold, never paid: marked expired
    PENDING = "pending"  # a checkout not paid (yet)
    ERROR = "error"  # the provider could not be asked, or did not know it


@attrs.frozen
class SyncItem:
    subscription_id: uuid.UUID
    result: SyncResult
    status: SubscriptionState
    detail: str | None = None


# --- what a site should be, and how to get there along the lifecycle table ----------------


class SiteTarget(enum.IntEnum):
    """What one subscription asks of its site; with several, the highest wins."""

    ENDED = 1  # no paid time left: suspended
    PAUSED = 2  # suspended while paused
    PAST_DUE = 3  # served, while the provider retries
    ACTIVE = 4


_ROUTES: Mapping[SiteTarget, tuple[SiteStatus, tuple[Trigger, ...]]] = {
    SiteTarget.ACTIVE: (
        SiteStatus.ACTIVE,
        (Trigger.SUBSCRIPTION_STARTED, Trigger.UNPAUSED, Trigger.PAYMENT_RECOVERED),
    ),
    SiteTarget.PAST_DUE: (
        SiteStatus.PAST_DUE,
        (Trigger.SUBSCRIPTION_STARTED, Trigger.UNPAUSED, Trigger.RENEWAL_FAILED),
    ),
    # An owned site has no path here: a paused or ended subscription leaves it owned, and
    # its included hosting runs out through the sweep.
    SiteTarget.PAUSED: (SiteStatus.SUSPENDED, (Trigger.PAUSED,)),
    SiteTarget.ENDED: (SiteStatus.SUSPENDED, (Trigger.SUBSCRIPTION_ENDED,)),
}


def site_target(subscription: Subscription, now: dt.datetime) -> SiteTarget | None:
    """What ``subscription`` asks of its site at ``now``; None: nothing (never started)."""
    match subscription.status:
        case SubscriptionState.ACTIVE:
            return SiteTarget.ACTIVE
        case SubscriptionState.PAST_DUE:
            return SiteTarget.PAST_DUE
        case SubscriptionState.PAUSED:
            return SiteTarget.PAUSED
        case SubscriptionState.CANCELLED:
            return SiteTarget.ACTIVE if subscription.covers(now) else SiteTarget.ENDED
        case SubscriptionState.UNABLE_TO_START:
            # The provider could not (re)start it: nothing is paid beyond what was.
            return SiteTarget.ACTIVE if subscription.covers(now) else SiteTarget.ENDED
        case _:
            return None


def plan(current: SiteStatus, target: SiteTarget, *, prefer_unpause: bool = False) -> list[Trigger]:
    """The shortest sequence of triggers the lifecycle table allows from ``current`` to
    the status ``target`` stands for, using only the triggers that target may use (in
    their order of preference); empty when already there or when no such path exists."""
    goal, triggers = _ROUTES[target]
    if prefer_unpause:
        triggers = tuple(sorted(triggers, key=lambda t: t is not Trigger.UNPAUSED))
    paths: dict[SiteStatus, list[Trigger]] = {current: []}
    queue = deque([current])
    while queue:
        status = queue.popleft()
        if status is goal:
            return paths[status]
        for trigger in triggers:
            following = TRANSITIONS.get((status, trigger))
            if following is not None and following not in paths:
                paths[following] = [*paths[status], trigger]
                queue.append(following)
    return []


@attrs.frozen
class Settled:
    """What ``settle`` did to a site."""

    before: SiteStatus | None
    after: SiteStatus | None
    triggers: tuple[Trigger, ...] = ()


def current_subscription(subscriptions: Sequence[Subscription], now: dt.datetime) -> Subscription | None:
    """The one to show for a site: a live one, else an open checkout, else the latest
    started, else the latest created (``subscriptions`` oldest first)."""
    for wanted in (
        lambda s: s.is_live,
        lambda s: s.holds_checkout(now),
        lambda s: s.is_started,
        lambda s: True,
    ):
        found = [s for s in subscriptions if wanted(s)]
        if found:
            return max(found, key=lambda s: (s.started_at or s.created_at, s.created_at))
    return None


# --- the webhook handler and the convergence every path shares ----------------------------


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
    renderer: EmailRenderer
    anomalies: AnomalyReporter
    config: SubscriptionConfig

    clock: Clock | None = None

    def prefetch(self, event: PaymentEvent) -> ProviderReading | None:
        """Read the subscription ``event`` is about before any transaction is open (a slow
        provider must not hold the site row or a pooled connection). The handler applies
        this reading; the order of readings, not of deliveries, decides (stale ones are
        dropped by ``Subscription.observe``)."""
        match event:
            case SubscriptionEvent():
                provider_id: str | None = event.subscription_id
            case PaymentIntentSucceeded() | PaymentIntentFailed():
                provider_id = event.paymentable_id or self._provider_id_of_checkout(event.checkout_id)
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
            case SubscriptionEvent():
                provider_id, checkout_id, metadata = event.subscription_id, None, {}
            case PaymentIntentSucceeded() | PaymentIntentFailed():
                provider_id, checkout_id = event.paymentable_id, event.checkout_id
                metadata = dict(event.metadata)
            case _:
                return Handled(WebhookOutcome.IGNORED, note=f"subscriptions do not act on {event.event_type}")

        if provider_id is None and reading is not None:
            provider_id = reading.provider_id
        found = self._find(uow, provider_id, checkout_id, metadata)
        if found is None and provider_id is not None:
            info = self._read(provider_id, reading)
            if info is not None and info.checkout_id is not None:
                found = uow.subscriptions.get_by_checkout(info.checkout_id)
        if found is None:
            return self._unknown(uow, event, provider_id or checkout_id or "?", context)
        if provider_id is None:
            provider_id = found.provider_id
            if provider_id is None and reading is None:
                provider_id = self._provider_id_of_checkout(found.checkout_id)
            if provider_id is None:
                return self._unknown(uow, event, checkout_id or str(found.id), context)

        # Lock the site row; the reading was taken before (or, without one, is taken now).
        site = lock_site(uow, found.site_id)
        subscription = uow.subscriptions.get(found.id, for_update=True)
        if subscription is None:  # pragma: no cover - subscriptions are never deleted
            raise NotFound(f"subscription {found.id} vanished")
        info = self._read(provider_id, reading)
        if info is None:
            return self._unknown(uow, event, provider_id, context)
        payment = event if isinstance(event, PaymentIntentSucceeded) else None
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
        payment: PaymentIntentSucceeded | None = None,
    ) -> Observation:
        """Apply the provider's ``info`` (read at ``context.now``) and a payment, if any,
        to ``subscription`` (locked, like ``site``), save it, queue the mails its changes
        call for, and settle the site. The caller commits."""
        now = context.now
        observation = subscription.observe(info, now)
        if observation.started and subscription.is_live:
            self._check_duplicate(uow, subscription, context)
        recorded = self._record_payment(uow, subscription, payment, now)
        uow.subscriptions.save(subscription)
        if recorded is not None and site is not None and site.status is SiteStatus.ARCHIVED:
            self._archived_payment(uow, site, subscription, recorded, context)
        if recorded is not None and recorded.amount != subscription.amount:
            self._amount_mismatch(uow, site, subscription, recorded, context)

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
            log.info(
                "subscription %s (%s): %s -> %s",
                subscription.id,
                subscription.provider_id,
                observation.before.value,
                observation.after.value,
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
        payment: PaymentIntentSucceeded | None,
        now: dt.datetime,
    ) -> SubscriptionPayment | None:
        """Record a payment once (by its ``pa_...`` id) and count the period it paid for."""
        if payment is None or payment.payment_id is None:
            return None
        if uow.subscriptions.get_payment(payment.payment_id) is not None:
            return None
        paid_at = min(payment.created_at or now, now)
        record = SubscriptionPayment(
            payment_id=payment.payment_id,
            subscription_id=subscription.id,
            amount=payment.amount,
            paid_at=paid_at,
            # Without the time it was made (a payment reconciled from a checkout), which
            # period it paid for is unknown: nothing is credited on a guess.
            period_end=subscription.period_paid_by(paid_at) if payment.created_at is not None else None,
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
            self.renderer,
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
        return info.paymentable_id if info.paymentable_type == SUBSCRIPTION_PAYMENTABLE else None

    def _amount_mismatch(
        self,
        uow: UnitOfWork,
        site: Site | None,
        subscription: Subscription,
        payment: SubscriptionPayment,
        context: EventContext,
    ) -> None:
        """Checked like a purchase's: a renewal of another amount than the subscription's."""
        kind = AnomalyKind.AMOUNT_MISMATCH
        self.anomalies.report(
            uow,
            Anomaly.new(
                kind,
                f"{kind.value}:{payment.payment_id}",
                f"subscription {subscription.provider_id} charged {payment.amount}, "
                f"but its price is {subscription.amount}",
                f"Payment {payment.payment_id} of {payment.amount} on {payment.paid_at.isoformat()}; "
                f"the subscription was created at {subscription.amount}/month. Refund the difference "
                "or correct the price at the provider, then resolve this anomaly.",
                context.now,
                site_id=subscription.site_id,
                webhook_event_id=context.webhook_event_id,
            ),
            context.now,
            site_slug=site.slug if site is not None else None,
            reference=context.reference,
        )

    def _archived_payment(
        self,
        uow: UnitOfWork,
        site: Site,
        subscription: Subscription,
        payment: SubscriptionPayment,
        context: EventContext,
    ) -> None:
        kind = AnomalyKind.PAYMENT_FOR_ARCHIVED_SITE
        self.anomalies.report(
            uow,
            Anomaly.new(
                kind,
                f"{kind.value}:{payment.payment_id}",
                f"site {site.slug} is archived but subscription {subscription.provider_id} "
                f"charged {payment.amount}",
                f"Payment {payment.payment_id} of {payment.amount} on {payment.paid_at.isoformat()} "
                f"renewed subscription {subscription.provider_id}, but the site was archived, so "
                "nothing is served for it. The subscription is being cancelled at the provider; "
                "refund the payment (POST /refunds with the payment id) and resolve this anomaly.",
                context.now,
                site_id=site.id,
                webhook_event_id=context.webhook_event_id,
            ),
            context.now,
            site_slug=site.slug,
            reference=context.reference,
        )

    def _check_duplicate(self, uow: UnitOfWork, subscription: Subscription, context: EventContext) -> None:
        others = [
            s
            for s in uow.subscriptions.for_site(subscription.site_id)
            if s.id != subscription.id and s.is_live
        ]
        if not others:
            return
        listed = ", ".join(s.provider_id or str(s.id) for s in others)
        self.anomalies.report(
            uow,
            Anomaly.new(
                AnomalyKind.DUPLICATE_SUBSCRIPTION,
                f"duplicate_subscription:{subscription.provider_id}",
                f"site {subscription.site_id} has two live subscriptions: "
                f"{subscription.provider_id} and {listed}",
                f"Subscription {subscription.provider_id} (checkout {subscription.checkout_id}) "
                f"started while {listed} is live, so the customer is charged twice. Cancel one at "
                "the provider (it will converge here through its webhook), refund what was charged "
                "twice, and resolve this anomaly.",
                context.now,
                site_id=subscription.site_id,
                webhook_event_id=context.webhook_event_id,
            ),
            context.now,
            reference=context.reference,
        )

    def _unknown(self, uow: UnitOfWork, event: PaymentEvent, what: str, context: EventContext) -> Handled:
        if isinstance(event, PaymentIntentFailed):
            # No money moved: nothing to put right, but the stored event says why.
            return Handled(WebhookOutcome.IGNORED, note=f"no subscription matches {what}")
        details = (
            f"A {event.event_type} event names {what}, which matches no subscription here, "
            f"neither by its id nor through the provider's checkout id.\n"
            "Find out which site it pays for; if it is one of ours, link it by hand or cancel "
            "and refund it at the provider, then resolve this anomaly."
        )
        self.anomalies.report(
            uow,
            Anomaly.new(
                AnomalyKind.UNKNOWN_SUBSCRIPTION,
                f"unknown_subscription:{what}",
                f"{event.event_type} for unknown subscription {what}",
                details,
                context.now,
                webhook_event_id=context.webhook_event_id,
            ),
            context.now,
            reference=context.reference,
        )
        return Handled(WebhookOutcome.ANOMALY, note=f"no subscription matches {what}")


def lock_site(uow: UnitOfWork, site_id: uuid.UUID) -> Site | None:
    """The site, its row locked until commit (the order every path takes: site, then
    subscription)."""
    site = uow.sites.get(site_id)
    return uow.sites.get_by_slug(site.slug, for_update=True) if site is not None else None


# --- the customer's and the operator's use cases ------------------------------------------


@attrs.define
class SubscriptionService:
    uow: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway
    renderer: EmailRenderer
    anomalies: AnomalyReporter
    config: SubscriptionConfig
    handler: SubscriptionEventHandler = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.handler = SubscriptionEventHandler(
            self.gateway, self.renderer, self.anomalies, self.config, clock=self.clock
        )

    def prefetch(self, event: PaymentEvent) -> ProviderReading | None:
        return self.handler.prefetch(event)

    def handle(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        """``EventHandler``: plug the service in as ``WebhookService.subscriptions``."""
        return self.handler.handle(uow, event, context)

    def start(self, customer_id: uuid.UUID, slug: str) -> SubscriptionCheckout:
        """Open a monthly checkout for the hosting of ``customer_id``'s site ``slug``.

        ``NotFound`` for an unknown or archived slug, for another customer's site and for
        one nobody owns (never revealed), ``Conflict`` when a live (active, past_due or
        paused) subscription exists. An open checkout of this site (within its hold) is returned
        again. Allowed for an owned or suspended site, and for an active one whose
        subscription was cancelled at period end (see "Resuming" in the module doc). The
        checkout is created outside any transaction; when the provider fails, the pending
        subscription is marked expired and the gateway error raised
        (``GatewayUnavailable``: 503; ``GatewayError``: 502)."""
        if not is_valid_slug(slug):
            raise NotFound(f"no site has the slug {slug!r}")
        now = self.clock.now()
        with self.uow() as uow:
            site = self._owned(uow, customer_id, slug, lock=True)
            held: Subscription | None = None
            for sub in uow.subscriptions.for_site(site.id):
                if sub.is_stale(now):
                    sub.mark_expired(now)
                    uow.subscriptions.save(sub)
                elif sub.is_live:
                    raise Conflict(self._live_message(sub))
                elif sub.holds_checkout(now):
                    held = sub
            trial = self._trial(uow, site, now)
            if held is not None:
                uow.commit()  # keep the stale ones marked expired
                if held.checkout_id is None or held.checkout_url is None:
                    raise Conflict("the checkout is still being created; try again in a moment")
                return _checkout(held, _first_charge(held.created_at, trial))
            subscription = Subscription.new(
                site_id=site.id,
                customer_id=customer_id,
                amount=self.config.price,
                now=now,
                hold=self.config.checkout_hold,
            )
            uow.subscriptions.add(subscription)
            uow.commit()

        request = CheckoutRequest(
            kind=CheckoutKind.MONTHLY,
            item_name=f"Hosting of {site.business_name}",
            amount=subscription.amount,
            success_url=self.config.success_url(site.slug, subscription.id),
            cancel_url=self.config.cancel_url(site.slug, subscription.id),
            metadata={
                "subscription_id": str(subscription.id),
                "site_id": str(site.id),
                "site_slug": site.slug,
            },
            expires_at=subscription.expires_at,
            description=f"Monthly hosting of {self.config.site_url(site.slug)}",
            free_trial=trial,
        )
        try:
            checkout = self.gateway.create_checkout(request)
        except Exception:
            self._abandon(subscription.id)
            raise
        with self.uow() as uow:
            current = uow.subscriptions.get(subscription.id, for_update=True)
            if current is None:  # pragma: no cover - subscriptions are never deleted
                raise NotFound(f"subscription {subscription.id} vanished")
            current.attach_checkout(checkout.id, checkout.url, self.clock.now())
            uow.subscriptions.save(current)
            uow.commit()
        return _checkout(current, _first_charge(now, trial))

    def first_charge(self, customer_id: uuid.UUID, slug: str) -> dt.datetime:
        """When a subscription started now would be charged first (pages say it)."""
        now = self.clock.now()
        with self.uow() as uow:
            site = self._owned(uow, customer_id, slug, lock=False)
            return _first_charge(now, self._trial(uow, site, now))

    def _trial(self, uow: UnitOfWork, site: Site, now: dt.datetime) -> FreeTrial | None:
        """The free trial covering the time ``site`` has already paid for, if any."""
        paid_until: list[dt.datetime] = []
        if site.status is SiteStatus.OWNED and site.purchased_at is not None:
            hosting = self.config.included_hosting_end(site.purchased_at)
            if hosting is not None and hosting > now:
                paid_until.append(hosting)
        for sub in uow.subscriptions.for_site(site.id):
            if sub.status is SubscriptionState.CANCELLED and sub.paid_through is not None and sub.covers(now):
                paid_until.append(sub.paid_through)
        return trial_within(now, max(paid_until)) if paid_until else None

    def get(self, customer_id: uuid.UUID, slug: str) -> SubscriptionView:
        """The subscription of ``customer_id``'s site (errors as ``start``; ``NotFound``
        when it never had one)."""
        with self.uow() as uow:
            site = self._owned(uow, customer_id, slug, lock=False)
            return self._view(uow, site, self.clock.now())

    def view(self, slug: str) -> SubscriptionView:
        """``get`` for operators: any site, any owner."""
        with self.uow() as uow:
            site = uow.sites.get_by_slug(slug)
            if site is None:
                raise NotFound(f"no site has the slug {slug!r}")
            return self._view(uow, site, self.clock.now())

    def cancel(self, customer_id: uuid.UUID, slug: str) -> SubscriptionView:
        """Cancel at period end: the provider's subscription is cancelled now (no more
        charges), the site stays online until the end of the paid time and then the sweep
        suspends it; the customer is mailed the date. Cancelling again returns the same
        view. ``Conflict`` when there is nothing to cancel; errors as ``start`` otherwise."""
        with self.uow() as uow:
            site = self._owned(uow, customer_id, slug, lock=False)
            subscriptions = uow.subscriptions.for_site(site.id)
        live = [s for s in subscriptions if s.is_live and s.provider_id is not None]
        if not live:
            if any(s.status is SubscriptionState.CANCELLED and s.ended_at is None for s in subscriptions):
                return self.get(customer_id, slug)
            raise Conflict("this site has no subscription to cancel")
        target = live[-1]
        assert target.provider_id is not None
        self.gateway.cancel_subscription(target.provider_id)
        read_at = self.clock.now()
        try:
            info = self.gateway.get_subscription(target.provider_id)
        except (GatewayError, TransientError):
            # Cancelled for sure; the rest as last known (the webhook will bring the details).
            info = _as_cancelled(target)
        context = EventContext(reference=f"customer:{customer_id}", actor=Actor.CUSTOMER, now=read_at)
        self._apply(target.id, info, context)
        return self.get(customer_id, slug)

    def list(self, *, status: SubscriptionState | None = None, limit: int = 100) -> Sequence[Subscription]:
        """Newest first."""
        with self.uow() as uow:
            return uow.subscriptions.list(status=status, limit=limit)

    def find(self, reference: str) -> Subscription:
        """By local id, provider id (``su_...``) or checkout id (``ch_...``)."""
        reference = reference.strip()
        with self.uow() as uow:
            found = uow.subscriptions.get_by_provider_id(reference) or uow.subscriptions.get_by_checkout(
                reference
            )
            if found is None:
                try:
                    found = uow.subscriptions.get(uuid.UUID(reference))
                except ValueError:
                    found = None
        if found is None:
            raise NotFound(f"no subscription matches {reference!r}")
        return found

    def payments(self, subscription_id: uuid.UUID) -> Sequence[SubscriptionPayment]:
        with self.uow() as uow:
            return uow.subscriptions.payments(subscription_id)

    def sync(self, reference: str) -> SyncItem:
        """Re-read one subscription from the provider and apply it (``webmagic
        subscriptions sync``). A pending one is looked up through its checkout: paid, it
        starts (as its webhook would have started it); unpaid past its hold, it expires."""
        return self.sync_one(self.find(reference).id)

    def sync_one(self, subscription_id: uuid.UUID) -> SyncItem:
        with self.uow() as uow:
            sub = uow.subscriptions.get(subscription_id)
        if sub is None:
            raise NotFound(f"no subscription has the id {subscription_id}")
        item = SyncItem(sub.id, SyncResult.PENDING, sub.status)
        payment: PaymentIntentSucceeded | None = None
        provider_id = sub.provider_id
        try:
            if provider_id is None:
                if sub.checkout_id is None:
                    return self._expire_if_stale(item, "no checkout was created")
                checkout = self.gateway.get_checkout(sub.checkout_id)
                if checkout.status is not CheckoutStatus.PAID or checkout.paymentable_id is None:
                    return self._expire_if_stale(item, f"checkout {checkout.status.value}")
                provider_id = checkout.paymentable_id
                try:
                    payment = PaymentIntentSucceeded.from_checkout(checkout)
                except MalformedEvent:
                    payment = None
            read_at = self.clock.now()
            info = self.gateway.get_subscription(provider_id)
        except (GatewayError, TransientError) as error:
            return attrs.evolve(item, result=SyncResult.ERROR, detail=error.detail)
        context = EventContext(reference=f"sync:{provider_id}", actor=Actor.SYSTEM, now=read_at)
        try:
            applied = self._apply(sub.id, info, context, payment=payment)
        except (Conflict, TransientError) as error:
            return attrs.evolve(item, result=SyncResult.ERROR, detail=f"{error.detail}; run again")
        except WebMagicError as error:
            return attrs.evolve(item, result=SyncResult.ERROR, detail=error.detail)
        return attrs.evolve(item, result=SyncResult.APPLIED, status=applied)

    # helpers

    def _apply(
        self,
        subscription_id: uuid.UUID,
        info: SubscriptionInfo,
        context: EventContext,
        *,
        payment: PaymentIntentSucceeded | None = None,
    ) -> SubscriptionState:
        with self.uow() as uow:
            found = uow.subscriptions.get(subscription_id)
            if found is None:
                raise NotFound(f"no subscription has the id {subscription_id}")
            site = lock_site(uow, found.site_id)
            sub = uow.subscriptions.get(subscription_id, for_update=True)
            assert sub is not None
            self.handler.apply(uow, site, sub, info, context, payment=payment)
            uow.commit()
        return sub.status

    def _expire_if_stale(self, item: SyncItem, why: str) -> SyncItem:
        now = self.clock.now()
        with self.uow() as uow:
            sub = uow.subscriptions.get(item.subscription_id, for_update=True)
            if sub is not None and sub.is_stale(now):
                sub.mark_expired(now)
                uow.subscriptions.save(sub)
                uow.commit()
        if sub is not None and sub.status is SubscriptionState.EXPIRED:
            return attrs.evolve(item, result=SyncResult.EXPIRED, status=sub.status, detail=why)
        return attrs.evolve(item, detail=why)

    def _owned(self, uow: UnitOfWork, customer_id: uuid.UUID, slug: str, *, lock: bool) -> Site:
        site = uow.sites.get_by_slug(slug, for_update=lock)
        if (
            site is None
            or site.status in (SiteStatus.ARCHIVED, SiteStatus.PREVIEW)
            or site.owner_id != customer_id
        ):
            # Another customer's site, or one nobody owns yet, looks exactly like an unknown one.
            raise NotFound(f"no site has the slug {slug!r}")
        return site

    @staticmethod
    def _view(uow: UnitOfWork, site: Site, now: dt.datetime) -> SubscriptionView:
        subscriptions = uow.subscriptions.for_site(site.id)
        current = current_subscription(subscriptions, now)
        if current is None:
            raise NotFound(NO_SUBSCRIPTION)
        payments = [p for s in subscriptions for p in uow.subscriptions.payments(s.id)]
        payments.sort(key=lambda p: p.order_key, reverse=True)
        return SubscriptionView(site.slug, current, tuple(payments))

    @staticmethod
    def _live_message(subscription: Subscription) -> str:
        match subscription.status:
            case SubscriptionState.PAST_DUE:
                return "this site's subscription has a failed payment; update the card at the provider"
            case SubscriptionState.PAUSED:
                return "this site's subscription is paused; resume it rather than starting another"
            case _:
                return "this site already has an active subscription"

    def _abandon(self, subscription_id: uuid.UUID) -> None:
        """The checkout could not be created: expire the pending subscription."""
        try:
            with self.uow() as uow:
                sub = uow.subscriptions.get(subscription_id, for_update=True)
                if sub is not None and sub.status is SubscriptionState.PENDING:
                    sub.mark_expired(self.clock.now())
                    uow.subscriptions.save(sub)
                    uow.commit()
        except Exception:
            # The original error is the one to report; the hold lapses by itself.
            log.exception("could not expire subscription %s", subscription_id)


def _first_charge(start: dt.datetime, trial: FreeTrial | None) -> dt.datetime:
    return trial_end(start, trial) if trial is not None else start


def _checkout(subscription: Subscription, first_charge_at: dt.datetime | None = None) -> SubscriptionCheckout:
    assert subscription.checkout_id is not None
    assert subscription.checkout_url is not None
    return SubscriptionCheckout(
        subscription_id=subscription.id,
        checkout_id=subscription.checkout_id,
        checkout_url=subscription.checkout_url,
        expires_at=subscription.expires_at,
        first_charge_at=first_charge_at,
    )


def _as_cancelled(subscription: Subscription) -> SubscriptionInfo:
    assert subscription.provider_id is not None
    return SubscriptionInfo(
        id=subscription.provider_id,
        status=SubscriptionStatus.CANCELLED,
        current_period_start=subscription.current_period_start,
        current_period_end=subscription.current_period_end,
        next_payment_attempt_at=None,
        checkout_id=subscription.checkout_id,
    )
