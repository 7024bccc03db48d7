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
import uuid
from collections.abc import Sequence

import attrs

from webmagic_core.errors import Conflict, NotFound, TransientError, WebMagicError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.events import (
    MalformedEvent,
    PaymentEvent,
    PaymentSucceeded,
)
from webmagic_core.payments.gateway import (
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    FreeTrial,
    GatewayError,
    PaymentGateway,
    SubscriptionInfo,
    SubscriptionStatus,
    trial_end,
    trial_within,
)
from webmagic_core.payments.subscriptions import (
    Subscription,
    SubscriptionPayment,
    SubscriptionState,
)
from webmagic_core.ports import Clock, UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.services.checkout_holds import Claim, HeldCheckouts, Refusal
from webmagic_core.services.sale_config import PORTAL_SITES, SubscriptionConfig
from webmagic_core.services.subscription_events import ProviderReading, SubscriptionEventHandler
from webmagic_core.services.subscription_targets import (
    Settled,
    SiteTarget,
    current_subscription,
    plan,
    site_target,
)
from webmagic_core.services.webhooks import EventContext, Handled
from webmagic_core.sites import Actor, Site
from webmagic_core.slugs import is_valid_slug

__all__ = [
    "NO_SUBSCRIPTION",
    "PORTAL_SITES",
    "ProviderReading",
    "Settled",
    "SiteTarget",
    "SubscriptionCheckout",
    "SubscriptionConfig",
    "SubscriptionEventHandler",
    "SubscriptionService",
    "SubscriptionView",
    "SyncItem",
    "SyncResult",
    "current_subscription",
    "plan",
    "site_target",
]

NO_SUBSCRIPTION = "this site has no subscription"


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


@attrs.define
class SubscriptionService:
    uow: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway
    anomalies: AnomalyReporter
    config: SubscriptionConfig
    handler: SubscriptionEventHandler = attrs.field(init=False)
    _holds: HeldCheckouts[Subscription] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self.handler = SubscriptionEventHandler(self.gateway, self.anomalies, self.config, clock=self.clock)
        self._holds = HeldCheckouts(
            self.uow, self.clock, self.gateway, lambda uow: uow.subscriptions, self._release
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
        trial: FreeTrial | None = None

        def claim(uow: UnitOfWork, site: Site | None, now: dt.datetime) -> Claim[Subscription] | Refusal:
            nonlocal trial
            site = _owned(site, customer_id, slug)
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
                if held.checkout_id is None or held.checkout_url is None:
                    return Refusal(Conflict("the checkout is still being created; try again in a moment"))
                return Claim(held, new=False)
            subscription = Subscription.new(
                site_id=site.id,
                customer_id=customer_id,
                amount=self.config.price,
                now=now,
                hold=self.config.checkout_hold,
            )
            return Claim(subscription, new=True)

        def request(site: Site, subscription: Subscription) -> CheckoutRequest:
            return CheckoutRequest(
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

        held = self._holds.open(slug, claim, request)
        starts = held.claimed_at if held.new else held.record.created_at
        return _checkout(held.record, _first_charge(starts, trial))

    def first_charge(self, customer_id: uuid.UUID, slug: str) -> dt.datetime:
        """When a subscription started now would be charged first (pages say it)."""
        now = self.clock.now()
        with self.uow() as uow:
            site = _owned(uow.sites.get_by_slug(slug), customer_id, slug)
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
            site = _owned(uow.sites.get_by_slug(slug), customer_id, slug)
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
            site = _owned(uow.sites.get_by_slug(slug), customer_id, slug)
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
        payment: PaymentSucceeded | None = None
        provider_id = sub.provider_id
        try:
            if provider_id is None:
                if sub.checkout_id is None:
                    return self._expire_if_stale(item, "no checkout was created")
                checkout = self.gateway.get_checkout(sub.checkout_id)
                if checkout.status is not CheckoutStatus.PAID or checkout.subscription_id is None:
                    return self._expire_if_stale(item, f"checkout {checkout.status.value}")
                provider_id = checkout.subscription_id
                try:
                    payment = PaymentSucceeded.from_checkout(checkout)
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
        payment: PaymentSucceeded | None = None,
    ) -> SubscriptionState:
        with self.uow() as uow:
            found = uow.subscriptions.get(subscription_id)
            if found is None:
                raise NotFound(f"no subscription has the id {subscription_id}")
            site = uow.sites.get(found.site_id, for_update=True)
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

    @staticmethod
    def _release(subscription: Subscription, now: dt.datetime, detail: str) -> bool:
        """The checkout could not be created: the pending subscription expires."""
        if subscription.status is not SubscriptionState.PENDING:
            return False
        subscription.mark_expired(now)
        return True


def _owned(site: Site | None, customer_id: uuid.UUID, slug: str) -> Site:
    if (
        site is None
        or site.status in (SiteStatus.ARCHIVED, SiteStatus.PREVIEW)
        or site.owner_id != customer_id
    ):
        # Another customer's site, or one nobody owns yet, looks exactly like an unknown one.
        raise NotFound(f"no site has the slug {slug!r}")
    return site


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
