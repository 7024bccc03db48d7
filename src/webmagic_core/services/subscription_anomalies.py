"""The anomalies a subscription event can raise: a renewal of another amount, a payment for
an archived site, two live subscriptions for one site, an event for an unknown subscription."""

from __future__ import annotations

from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.payments.events import (
    PaymentEvent,
    PaymentFailed,
)
from webmagic_core.payments.subscriptions import (
    Subscription,
    SubscriptionPayment,
)
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.ports import UnitOfWork
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.services.webhooks import EventContext, Handled
from webmagic_core.sites import Site


def report_amount_mismatch(
    anomalies: AnomalyReporter,
    uow: UnitOfWork,
    site: Site | None,
    subscription: Subscription,
    payment: SubscriptionPayment,
    context: EventContext,
) -> None:
    """Checked like a purchase's: a renewal of another amount than the subscription's."""
    kind = AnomalyKind.AMOUNT_MISMATCH
    anomalies.report(
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


def report_archived_payment(
    anomalies: AnomalyReporter,
    uow: UnitOfWork,
    site: Site,
    subscription: Subscription,
    payment: SubscriptionPayment,
    context: EventContext,
) -> None:
    kind = AnomalyKind.PAYMENT_FOR_ARCHIVED_SITE
    anomalies.report(
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


def report_duplicate(
    anomalies: AnomalyReporter, uow: UnitOfWork, subscription: Subscription, context: EventContext
) -> None:
    others = [
        s for s in uow.subscriptions.for_site(subscription.site_id) if s.id != subscription.id and s.is_live
    ]
    if not others:
        return
    listed = ", ".join(s.provider_id or str(s.id) for s in others)
    anomalies.report(
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


def report_unknown(
    anomalies: AnomalyReporter, uow: UnitOfWork, event: PaymentEvent, what: str, context: EventContext
) -> Handled:
    if isinstance(event, PaymentFailed):
        # No money moved: nothing to put right, but the stored event says why.
        return Handled(WebhookOutcome.IGNORED, note=f"no subscription matches {what}")
    details = (
        f"A {event.label} event names {what}, which matches no subscription here, "
        f"neither by its id nor through the provider's checkout id.\n"
        "Find out which site it pays for; if it is one of ours, link it by hand or cancel "
        "and refund it at the provider, then resolve this anomaly."
    )
    anomalies.report(
        uow,
        Anomaly.new(
            AnomalyKind.UNKNOWN_SUBSCRIPTION,
            f"unknown_subscription:{what}",
            f"{event.label} for unknown subscription {what}",
            details,
            context.now,
            webhook_event_id=context.webhook_event_id,
        ),
        context.now,
        reference=context.reference,
    )
    return Handled(WebhookOutcome.ANOMALY, note=f"no subscription matches {what}")
