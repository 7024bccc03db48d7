"""Holds that neither leak nor squat: a stale hold is asked about before it is given up,
checkouts nobody may pay any more are closed at the provider, reconciliation looks at
closed holds and the provider's checkout list, and one client or email holds few sites."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs
import pytest

from webmagic_core.errors import Conflict, Throttled, TransientError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.gateway import CheckoutKind, CheckoutRequest, CheckoutStatus
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.purchases import CheckoutStarted, ReconcileResult
from webmagic_core.testing.payments import PRICE, PaymentsWorld, payment_payload, payments_world

BUYER = "rosa@example.com"
OTHER = "luis@example.com"
CLIENT = "203.0.113.7"


@pytest.fixture
def world() -> PaymentsWorld:
    w = payments_world()
    w.preview()
    return w


def start(
    world: PaymentsWorld, email: str = BUYER, slug: str = "casa-rosa", **kwargs: object
) -> CheckoutStarted:
    return world.purchases.start(slug, email, **kwargs)  # type: ignore[arg-type]


def past_the_hold(world: PaymentsWorld) -> None:
    world.clock.advance(world.purchases.config.hold)


# --- a stale hold is asked about before it is given up ---------------------------------------


def test_a_stale_hold_paid_without_its_webhook_is_applied_before_anyone_else_starts(
    world: PaymentsWorld,
) -> None:
    first = start(world)
    world.gateway.pay(first.checkout_id)  # the webhook is lost
    past_the_hold(world)
    with pytest.raises(Conflict, match="not for sale"):
        start(world, OTHER)
    assert world.purchase(first.purchase_id).status is PurchaseStatus.PAID
    assert world.site().status is SiteStatus.OWNED
    assert len(world.gateway.created) == 1


def test_a_stale_hold_being_paid_still_holds(world: PaymentsWorld) -> None:
    first = start(world)
    world.gateway.set_status(first.checkout_id, CheckoutStatus.IN_PROGRESS)
    past_the_hold(world)
    with pytest.raises(Conflict, match="someone else is buying"):
        start(world, OTHER)
    assert world.purchase(first.purchase_id).status is PurchaseStatus.PENDING


def test_a_stale_hold_is_not_given_up_while_the_provider_cannot_say(world: PaymentsWorld) -> None:
    first = start(world)
    past_the_hold(world)
    world.gateway.fail_next(method="get_checkout")
    with pytest.raises(TransientError):
        start(world, OTHER)
    assert world.purchase(first.purchase_id).status is PurchaseStatus.PENDING
    assert len(world.gateway.created) == 1
    start(world, OTHER)  # the provider answers again: unpaid, so the site is free
    assert world.purchase(first.purchase_id).status is PurchaseStatus.EXPIRED


# --- closing checkouts nobody may pay any more -----------------------------------------------


def test_cancelling_closes_the_checkout_at_the_provider(world: PaymentsWorld) -> None:
    first = start(world)
    assert world.purchases.cancel(first.purchase_id).status is PurchaseStatus.CANCELLED
    assert not world.gateway.is_open(first.checkout_id)
    assert world.gateway.checkout(first.checkout_id).expires_at == world.clock.now()


def test_cancelling_while_the_provider_is_down_keeps_the_hold(world: PaymentsWorld) -> None:
    first = start(world)
    world.gateway.fail_next(method="expire_checkout")
    with pytest.raises(TransientError):
        world.purchases.cancel(first.purchase_id)
    assert world.purchase(first.purchase_id).status is PurchaseStatus.PENDING
    with pytest.raises(Conflict):
        start(world, OTHER)


def test_cancelling_a_checkout_paid_meanwhile_applies_the_payment(world: PaymentsWorld) -> None:
    first = start(world)
    world.gateway.pay(first.checkout_id)
    assert world.purchases.cancel(first.purchase_id).status is PurchaseStatus.PAID
    assert world.site().status is SiteStatus.OWNED


def test_a_sale_closes_every_other_checkout_of_the_site(world: PaymentsWorld) -> None:
    first = start(world)
    # An earlier release whose closing call was lost: cancelled here, payable there.
    world.store.purchases[first.purchase_id] = attrs.evolve(
        world.purchase(first.purchase_id), status=PurchaseStatus.CANCELLED, closed_at=world.clock.now()
    )
    assert world.gateway.is_open(first.checkout_id)
    second = start(world, OTHER)
    assert world.deliver(world.paid_payload(second.checkout_id)) is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.OWNED
    assert not world.gateway.is_open(first.checkout_id)
    assert world.gateway.is_open(second.checkout_id) is False  # paid


def test_a_failed_closing_call_after_a_sale_keeps_the_sale(world: PaymentsWorld) -> None:
    first = start(world)
    world.store.purchases[first.purchase_id] = attrs.evolve(
        world.purchase(first.purchase_id), status=PurchaseStatus.CANCELLED, closed_at=world.clock.now()
    )
    second = start(world, OTHER)
    world.gateway.fail_next(method="expire_checkout")
    assert world.deliver(world.paid_payload(second.checkout_id)) is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.OWNED
    assert world.gateway.is_open(first.checkout_id)
    # Reconciliation finds the leaked checkout and closes it.
    items = {item.purchase_id: item for item in world.purchases.reconcile().items}
    assert items[first.purchase_id].result is ReconcileResult.CLOSED
    assert not world.gateway.is_open(first.checkout_id)


# --- reconciliation beyond pending purchases ------------------------------------------------


def test_reconcile_finds_a_payment_on_a_hold_already_marked_expired(world: PaymentsWorld) -> None:
    first = start(world)
    past_the_hold(world)
    world.purchases.reconcile()
    assert world.purchase(first.purchase_id).status is PurchaseStatus.EXPIRED
    # Paid at the last moment; the webhook never came.
    world.gateway.pay(first.checkout_id)
    items = {item.purchase_id: item for item in world.purchases.reconcile().items}
    assert items[first.purchase_id].result is ReconcileResult.PAID
    assert world.purchase(first.purchase_id).status is PurchaseStatus.PAID
    assert world.site().status is SiteStatus.OWNED


def test_reconcile_reads_the_checkout_list_for_checkouts_never_stored(world: PaymentsWorld) -> None:
    first = start(world)
    # The second transaction of start was lost: the purchase never learnt its checkout.
    world.store.purchases[first.purchase_id] = attrs.evolve(
        world.purchase(first.purchase_id), checkout_id=None, checkout_url=None
    )
    world.gateway.pay(first.checkout_id)
    report = world.purchases.reconcile()
    assert ReconcileResult.PAID in {item.result for item in report.items}
    assert world.purchase(first.purchase_id).status is PurchaseStatus.PAID
    assert world.purchase(first.purchase_id).checkout_id == first.checkout_id
    assert world.site().status is SiteStatus.OWNED


def test_a_paid_checkout_nobody_knows_is_an_anomaly(world: PaymentsWorld) -> None:
    foreign = world.gateway.create_checkout(
        CheckoutRequest(
            kind=CheckoutKind.ONE_TIME,
            item_name="Something else",
            amount=PRICE,
            success_url="https://example.com/ok",
            cancel_url="https://example.com/no",
        )
    )
    world.gateway.pay(foreign.id)
    [item] = world.purchases.reconcile().items
    assert item.result is ReconcileResult.ANOMALY
    [anomaly] = world.anomalies.list()
    assert anomaly.kind is AnomalyKind.UNKNOWN_CHECKOUT
    # Once known as an anomaly, the next pass reports nothing new.
    world.purchases.reconcile()
    assert len(world.anomalies.list()) == 1


def test_reconcile_leaves_old_checkouts_alone(world: PaymentsWorld) -> None:
    first = start(world)
    past_the_hold(world)
    world.purchases.reconcile()
    world.clock.advance(world.purchases.config.lookback + dt.timedelta(hours=1))
    world.gateway.calls.clear()
    assert world.purchases.reconcile().items == ()
    assert [name for name, _ in world.gateway.calls] == ["list_checkouts"]
    assert world.purchase(first.purchase_id).status is PurchaseStatus.EXPIRED


# --- a second payment ------------------------------------------------------------------------


def test_a_second_distinct_payment_of_a_paid_purchase_is_an_anomaly_with_a_refund_due(
    world: PaymentsWorld,
) -> None:
    first = start(world)
    info = world.gateway.pay(first.checkout_id)
    assert world.deliver(payment_payload(info)) is WebhookOutcome.PROCESSED
    assert world.deliver(payment_payload(info)) is WebhookOutcome.PROCESSED  # the same payment again
    assert world.anomalies.list() == []
    again = world.deliver(payment_payload(info, payment_id="pa_second0000000000000000"))
    assert again is WebhookOutcome.ANOMALY
    [anomaly] = world.anomalies.list()
    assert anomaly.kind is AnomalyKind.DUPLICATE_PAYMENT
    assert "pa_second0000000000000000" in anomaly.details
    assert "Refund" in anomaly.details
    assert world.purchase(first.purchase_id).payment_id == info.payment_id


# --- squatting -------------------------------------------------------------------------------


def squat_world(count: int) -> PaymentsWorld:
    world = payments_world()
    for n in range(count):
        world.preview(f"site-{n}", f"Site {n}")
    return world


def test_one_email_holds_at_most_two_sites_at_once() -> None:
    world = squat_world(4)
    world.purchases.start("site-0", BUYER, client="198.51.100.1")
    world.purchases.start("site-1", BUYER, client="198.51.100.2")
    with pytest.raises(Throttled) as refused:
        world.purchases.start("site-2", BUYER, client="198.51.100.3")
    assert 0 < refused.value.retry_after <= world.purchases.config.hold.total_seconds() + 1
    assert world.site("site-2").status is SiteStatus.PREVIEW
    assert world.purchases.held_until(world.site("site-2").id) is None
    past_the_hold(world)
    world.purchases.start("site-2", BUYER, client="198.51.100.3")


def test_one_client_holds_at_most_three_sites_at_once() -> None:
    world = squat_world(5)
    for n in range(3):
        world.purchases.start(f"site-{n}", f"made-up-{n}@example.com", client=CLIENT)
    with pytest.raises(Throttled):
        world.purchases.start("site-3", "made-up-3@example.com", client=CLIENT)
    world.purchases.start("site-3", "made-up-3@example.com", client="198.51.100.9")
    # A hold given up frees a place.
    [released] = [p for p in world.store.purchases.values() if p.buyer_email == "made-up-0@example.com"]
    world.purchases.cancel(released.id)
    world.purchases.start("site-4", "made-up-4@example.com", client=CLIENT)


def test_the_client_address_is_stored_only_as_a_hash(world: PaymentsWorld) -> None:
    started = start(world, client=CLIENT)
    key = world.purchase(started.purchase_id).client_key
    assert key is not None
    assert CLIENT not in key


def test_held_until_says_when_the_hold_ends(world: PaymentsWorld) -> None:
    site = world.site()
    assert world.purchases.held_until(site.id) is None
    started = start(world)
    assert world.purchases.held_until(site.id) == started.expires_at
    past_the_hold(world)
    assert world.purchases.held_until(site.id) is None


def test_the_checkout_expires_with_the_hold(world: PaymentsWorld) -> None:
    started = start(world)
    assert world.gateway.checkout(started.checkout_id).expires_at == started.expires_at
    assert started.expires_at - world.clock.now() == dt.timedelta(minutes=15)


def test_a_purchase_entity_without_a_client_is_fine() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    purchase = Purchase.new(site_id=uuid.uuid4(), amount=Money(1, "USD"), buyer_email=BUYER, now=now)
    assert purchase.client_key is None
    purchase.note_decline("declined")
    assert (purchase.status, purchase.failure_reason) == (PurchaseStatus.PENDING, "declined")
