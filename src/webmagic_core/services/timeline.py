"""One timeline per site: its transitions, purchases and checkouts, its subscriptions and
their payments, the reminders sent, the webhooks that touched it, the anomalies about it
and the emails queued and sent for it, in time order. The single place an operator looks
when a customer calls (``webmagic sites show``)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs

from webmagic_core.errors import NotFound
from webmagic_core.money import Money
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.payments.anomalies import Anomaly
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.subscriptions import Notice, Subscription, SubscriptionPayment, SubscriptionState
from webmagic_core.payments.webhook_log import WebhookEvent
from webmagic_core.ports import UnitOfWork, UnitOfWorkFactory
from webmagic_core.sites import SiteEvent
from webmagic_core.slugs import shown


class TimelineKind(enum.StrEnum):
    SITE = "site"
    PURCHASE = "purchase"
    CHECKOUT = "checkout"
    SUBSCRIPTION = "subscription"
    NOTICE = "notice"
    WEBHOOK = "webhook"
    ANOMALY = "anomaly"
    EMAIL = "email"
    DOMAIN = "domain"
    ACCOUNT = "account"  # the owner's account: deactivated, reactivated


@attrs.frozen
class TimelineEntry:
    at: dt.datetime
    kind: TimelineKind
    summary: str
    reference: str | None = None  # a webhook id, checkout id, purchase id, message id...


# More entries for a site, read by another service (custom domains): site id -> entries.
TimelineSource = Callable[[uuid.UUID], Iterable["TimelineEntry"]]


@attrs.define
class TimelineService:
    uow: UnitOfWorkFactory
    sources: Sequence[TimelineSource] = ()
    # How amounts read (the adapters' format for people; ``str`` keeps "495.00 USD").
    money: Callable[[Money], str] = str

    def for_site(self, slug: str) -> Sequence[TimelineEntry]:
        """Oldest first. A site in any status (archived too); ``NotFound`` otherwise."""
        with self.uow() as uow:
            site = uow.sites.get_by_slug(slug)
            if site is None:
                raise NotFound(f"no site has the slug {shown(slug)}")
            entries = list(self._collect(uow, site.id))
        for source in self.sources:
            entries.extend(source(site.id))
        # Stable: entries of the same instant keep the order they are collected in.
        return sorted(entries, key=lambda e: e.at)

    def _collect(self, uow: UnitOfWork, site_id: uuid.UUID) -> Iterator[TimelineEntry]:
        for event in uow.sites.events(site_id):
            yield _site_event(event)
        for purchase in uow.purchases.for_site(site_id):
            yield from _purchase(purchase, self.money)
        for subscription in uow.subscriptions.for_site(site_id):
            yield from _subscription(subscription, self.money)
            for payment in uow.subscriptions.payments(subscription.id):
                yield _subscription_payment(subscription, payment, self.money)
        for notice in uow.notices.for_site(site_id):
            yield _notice(notice)
        for webhook in uow.webhook_events.for_site(site_id):
            yield _webhook(webhook)
        for anomaly in uow.anomalies.for_site(site_id):
            yield from _anomaly(anomaly)
        for message in uow.outbox.for_site(site_id):
            yield from _email(message)


def _site_event(event: SiteEvent) -> TimelineEntry:
    if event.from_status is None:
        move = "created as preview: "
    elif event.from_status is event.to_status:
        move = ""  # not a move: a new version went live (its cause says which)
    else:
        move = f"{event.from_status.value} -> {event.to_status.value}: "
    return TimelineEntry(
        event.occurred_at, TimelineKind.SITE, f"{move}{event.cause} ({event.actor.value})", event.reference
    )


def _purchase(purchase: Purchase, money: Callable[[Money], str]) -> Iterator[TimelineEntry]:
    ref = str(purchase.id)
    yield TimelineEntry(
        purchase.created_at,
        TimelineKind.PURCHASE,
        f"purchase started by {purchase.buyer_email} for {money(purchase.amount)}, "
        f"holding the site until {purchase.expires_at.isoformat(timespec='seconds')}",
        ref,
    )
    if purchase.checkout_id is not None and purchase.checkout_created_at is not None:
        yield TimelineEntry(
            purchase.checkout_created_at,
            TimelineKind.CHECKOUT,
            f"checkout {purchase.checkout_id} created",
            purchase.checkout_id,
        )
    if purchase.status is PurchaseStatus.PAID and purchase.paid_at is not None:
        paid = f"payment {purchase.payment_id}" if purchase.payment_id else "payment"
        yield TimelineEntry(purchase.paid_at, TimelineKind.PURCHASE, f"purchase paid ({paid})", ref)
    elif purchase.status is not PurchaseStatus.PENDING and purchase.closed_at is not None:
        why = f": {purchase.failure_reason}" if purchase.failure_reason else ""
        status = "paid, refund due" if purchase.status is PurchaseStatus.REFUND_DUE else purchase.status.value
        yield TimelineEntry(purchase.closed_at, TimelineKind.PURCHASE, f"purchase {status}{why}", ref)


def _iso(at: dt.datetime) -> str:
    return at.isoformat(timespec="seconds")


def _subscription(sub: Subscription, money: Callable[[Money], str]) -> Iterator[TimelineEntry]:
    """What a subscription records: its checkout, start, cancellation and end, and its
    status as last read from the provider when that is not otherwise told."""
    ref, name = str(sub.id), f"subscription {sub.provider_id or sub.id}"
    checkout = f" (checkout {sub.checkout_id})" if sub.checkout_id else ""
    yield TimelineEntry(
        sub.created_at,
        TimelineKind.SUBSCRIPTION,
        f"subscription checkout opened for {money(sub.amount)} per month{checkout}, "
        f"holding until {_iso(sub.expires_at)}",
        ref,
    )
    if sub.started_at is not None:
        yield TimelineEntry(sub.started_at, TimelineKind.SUBSCRIPTION, f"{name} started", ref)
    match sub.status:
        case SubscriptionState.EXPIRED:
            yield TimelineEntry(
                sub.updated_at, TimelineKind.SUBSCRIPTION, "subscription checkout expired unpaid", ref
            )
        case SubscriptionState.PAST_DUE | SubscriptionState.PAUSED | SubscriptionState.UNABLE_TO_START:
            seen = sub.last_synced_at or sub.updated_at
            yield TimelineEntry(seen, TimelineKind.SUBSCRIPTION, f"{name} is {sub.status.value}", ref)
        case _:
            pass
    if sub.cancelled_at is not None:
        until = (
            f", the site stays online until {_iso(sub.paid_through)}"
            if sub.cancel_at_period_end and sub.paid_through is not None
            else ""
        )
        yield TimelineEntry(sub.cancelled_at, TimelineKind.SUBSCRIPTION, f"{name} cancelled{until}", ref)
    if sub.ended_at is not None:
        yield TimelineEntry(sub.ended_at, TimelineKind.SUBSCRIPTION, f"{name} ended: no paid time left", ref)


def _subscription_payment(
    sub: Subscription, payment: SubscriptionPayment, money: Callable[[Money], str]
) -> TimelineEntry:
    period = f", paying until {_iso(payment.period_end)}" if payment.period_end is not None else ""
    return TimelineEntry(
        payment.paid_at,
        TimelineKind.SUBSCRIPTION,
        f"subscription {sub.provider_id or sub.id}: payment {payment.payment_id} "
        f"of {money(payment.amount)}{period}",
        payment.payment_id,
    )


def _notice(notice: Notice) -> TimelineEntry:
    return TimelineEntry(
        notice.sent_at, TimelineKind.NOTICE, f"reminder {notice.kind.value} sent", notice.key
    )


def _webhook(event: WebhookEvent) -> TimelineEntry:
    outcome = event.outcome.value if event.outcome else "not processed"
    why = f": {event.error}" if event.error else ""
    return TimelineEntry(
        event.received_at,
        TimelineKind.WEBHOOK,
        f"webhook {event.event_type} received, {outcome}{why}",
        event.id,
    )


def _anomaly(anomaly: Anomaly) -> Iterator[TimelineEntry]:
    ref = str(anomaly.id)
    yield TimelineEntry(
        anomaly.created_at, TimelineKind.ANOMALY, f"anomaly ({anomaly.kind.value}): {anomaly.summary}", ref
    )
    if anomaly.resolved_at is not None:
        yield TimelineEntry(
            anomaly.resolved_at, TimelineKind.ANOMALY, f"anomaly resolved: {anomaly.resolution}", ref
        )


def _email(item: OutboxMessage) -> Iterator[TimelineEntry]:
    message, ref = item.message, str(item.id)
    what = f"email {message.template.value} to {message.to}"
    if item.status is OutboxStatus.DEAD:
        # The outbox keeps no time of death: said on the entry of its queueing.
        error = f": {item.last_error}" if item.last_error else ""
        yield TimelineEntry(
            item.created_at,
            TimelineKind.EMAIL,
            f"{what} queued, then given up after {item.attempts} attempt(s){error}",
            ref,
        )
        return
    yield TimelineEntry(item.created_at, TimelineKind.EMAIL, f"{what} queued", ref)
    if item.status is OutboxStatus.SENT and item.sent_at is not None:
        yield TimelineEntry(item.sent_at, TimelineKind.EMAIL, f"{what} sent", ref)
