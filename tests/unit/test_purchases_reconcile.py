"""Reconciliation: pending purchases checked with the provider, paid ones applied through
the webhook's code path, unpaid ones past their hold expired."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.gateway import CheckoutKind, CheckoutRequest, CheckoutStatus, GatewayError
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.purchases import CheckoutStarted, ReconcileItem, ReconcileResult
from webmagic_core.sites import Actor
from webmagic_core.testing.payments import PaymentsWorld, payment_payload, payments_world


@pytest.fixture
def world() -> PaymentsWorld:
    w = payments_world()
    w.preview()
    return w


def start(world: PaymentsWorld, email: str = "rosa@example.com", slug: str = "casa-rosa") -> CheckoutStarted:
    return world.purchases.start(slug, email)


def only(report_items: tuple[ReconcileItem, ...]) -> ReconcileItem:
    [item] = report_items
    return item


def test_a_paid_checkout_without_its_webhook_is_applied_like_the_webhook(world: PaymentsWorld) -> None:
    started = start(world)
    world.gateway.pay(started.checkout_id)
    world.clock.advance(dt.timedelta(minutes=2))
    report = world.purchases.reconcile()
    assert only(report.items) == ReconcileItem(
        started.purchase_id, started.checkout_id, ReconcileResult.PAID, detail=None
    )
    assert report.count(ReconcileResult.PAID) == 1
    purchase = world.purchase(started.purchase_id)
    assert (purchase.status, purchase.paid_at) == (PurchaseStatus.PAID, world.clock.now())
    assert purchase.payment_id == world.gateway.checkout(started.checkout_id).payment_id
    site = world.site()
    assert site.status is SiteStatus.OWNED
    [event] = [e for e in world.store.events if e.to_status is SiteStatus.OWNED]
    assert (event.actor, event.reference) == (Actor.SYSTEM, f"reconcile:{started.checkout_id}")
    assert [m.message.template for m in world.mails()] == [
        EmailTemplate.PURCHASE_CONFIRMATION,
        EmailTemplate.WELCOME_SET_PASSWORD,
    ]
    # The webhook arriving late changes nothing; reconciling again finds nothing pending.
    late = payment_payload(world.gateway.checkout(started.checkout_id))
    assert world.deliver(late) is WebhookOutcome.PROCESSED
    assert world.purchases.reconcile().items == ()
    assert len(world.mails()) == 2


def test_unpaid_checkouts_stay_pending_within_their_hold_and_expire_after(world: PaymentsWorld) -> None:
    started = start(world)
    assert only(world.purchases.reconcile().items).result is ReconcileResult.PENDING
    assert world.purchase(started.purchase_id).status is PurchaseStatus.PENDING
    world.clock.advance(dt.timedelta(minutes=30))
    item = only(world.purchases.reconcile().items)
    assert (item.result, item.detail) == (ReconcileResult.EXPIRED, "not paid")
    purchase = world.purchase(started.purchase_id)
    assert (purchase.status, purchase.closed_at) == (PurchaseStatus.EXPIRED, world.clock.now())


def test_a_payment_in_progress_is_never_expired(world: PaymentsWorld) -> None:
    started = start(world)
    world.gateway.set_status(started.checkout_id, CheckoutStatus.IN_PROGRESS)
    world.clock.advance(dt.timedelta(hours=1))
    item = only(world.purchases.reconcile().items)
    assert (item.result, item.detail) == (ReconcileResult.PENDING, "payment in progress")
    assert world.purchase(started.purchase_id).status is PurchaseStatus.PENDING


@pytest.mark.parametrize("error", [None, GatewayError("bad keys", status=401)], ids=["transient", "refused"])
def test_a_provider_failure_is_reported_and_changes_nothing(
    world: PaymentsWorld, error: Exception | None
) -> None:
    started = start(world)
    world.gateway.pay(started.checkout_id)
    world.gateway.fail_next(method="get_checkout", error=error)
    item = only(world.purchases.reconcile().items)
    assert item.result is ReconcileResult.ERROR
    assert item.detail
    assert world.purchase(started.purchase_id).status is PurchaseStatus.PENDING
    # The next run gets through.
    assert only(world.purchases.reconcile().items).result is ReconcileResult.PAID


def test_a_checkout_the_provider_does_not_know(world: PaymentsWorld) -> None:
    started = start(world)
    world.store.purchases[started.purchase_id].checkout_id = "ch_forgotten"
    item = only(world.purchases.reconcile().items)
    assert (item.result, item.detail) == (ReconcileResult.ERROR, "the provider does not know the checkout")
    world.clock.advance(dt.timedelta(minutes=31))
    assert only(world.purchases.reconcile().items).result is ReconcileResult.EXPIRED


def test_a_purchase_whose_checkout_was_never_stored_expires_after_its_hold(world: PaymentsWorld) -> None:
    started = start(world)
    world.store.purchases[started.purchase_id] = attrs.evolve(
        world.purchase(started.purchase_id), checkout_id=None, checkout_url=None
    )
    assert only(world.purchases.reconcile().items).result is ReconcileResult.PENDING
    world.clock.advance(dt.timedelta(minutes=30))
    item = only(world.purchases.reconcile().items)
    assert (item.result, item.checkout_id) == (ReconcileResult.EXPIRED, None)
    assert [name for name, _ in world.gateway.calls if name != "list_checkouts"] == ["create_checkout"]


def test_a_paid_checkout_that_does_not_fit_is_an_anomaly_once(world: PaymentsWorld) -> None:
    started = start(world)
    world.gateway.pay(started.checkout_id, amount=Money(100, "USD"))
    item = only(world.purchases.reconcile().items)
    assert item.result is ReconcileResult.ANOMALY
    assert world.purchase(started.purchase_id).status is PurchaseStatus.REFUND_DUE
    [anomaly] = world.store.anomalies.values()
    assert (anomaly.kind, anomaly.webhook_event_id) == (AnomalyKind.AMOUNT_MISMATCH, None)
    assert world.purchases.reconcile().items == ()


def test_a_paid_checkout_reported_without_an_amount_is_an_error(world: PaymentsWorld) -> None:
    started = start(world)
    world.gateway.pay(started.checkout_id)
    world.gateway.put_checkout(attrs.evolve(world.gateway.checkout(started.checkout_id), amount=None))
    item = only(world.purchases.reconcile().items)
    assert item.result is ReconcileResult.ERROR
    assert "no amount" in (item.detail or "")
    assert world.purchase(started.purchase_id).status is PurchaseStatus.PENDING


def test_several_purchases_oldest_first(world: PaymentsWorld) -> None:
    world.preview("panaderia", "Panadería Luz")
    world.preview("taller", "Taller Sol")
    first = start(world)
    world.clock.advance(dt.timedelta(minutes=1))
    second = start(world, "luis@example.com", "panaderia")
    world.clock.advance(dt.timedelta(minutes=1))
    third = start(world, "ana@example.com", "taller")
    world.gateway.pay(second.checkout_id)
    world.gateway.pay(third.checkout_id)
    report = world.purchases.reconcile()
    assert [(i.purchase_id, i.result) for i in report.items] == [
        (first.purchase_id, ReconcileResult.PENDING),
        (second.purchase_id, ReconcileResult.PAID),
        (third.purchase_id, ReconcileResult.PAID),
    ]
    assert (report.count(ReconcileResult.PAID), report.count(ReconcileResult.PENDING)) == (2, 1)
    assert len(world.store.customers) == 2


def test_a_paid_subscription_checkout_listed_by_the_provider_is_not_a_sale(world: PaymentsWorld) -> None:
    # A monthly checkout with no metadata of ours: the provider names the subscription it
    # started, which is the subscriptions' business, not a one-time sale nobody recorded.
    checkout = world.gateway.create_checkout(
        CheckoutRequest(
            kind=CheckoutKind.MONTHLY,
            item_name="Hosting",
            amount=Money(9500, "USD"),
            success_url="https://app.example.com/ok",
            cancel_url="https://app.example.com/cancel",
        )
    )
    assert world.gateway.pay(checkout.id).subscription_id is not None
    assert world.purchases.reconcile().items == ()
    assert world.store.anomalies == {}
