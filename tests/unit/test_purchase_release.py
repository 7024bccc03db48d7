"""Releasing holds exactly: a cancelled purchase says when and why it closed, and a sale
cancels every other pending purchase of the site and closes at the provider only the
checkouts still payable (never the kept one's, a final one's or one already over)."""

from __future__ import annotations

import attrs

from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.testing.payments import PaymentsWorld, payments_world

BUYER = "rosa@example.com"


def world_with_sites(count: int) -> PaymentsWorld:
    world = payments_world()
    for n in range(count):
        world.preview(f"site-{n}", f"Site {n}")
    return world


def test_a_cancelled_purchase_records_when_and_why() -> None:
    world = world_with_sites(2)
    first = world.purchases.start("site-0", BUYER)
    second = world.purchases.start("site-1", BUYER)
    world.clock.advance(world.purchases.config.hold / 3)
    now = world.clock.now()
    world.purchases.cancel(first.purchase_id)
    world.purchases.cancel(second.purchase_id, reason="closed by an operator")
    cancelled = world.purchase(first.purchase_id)
    assert (cancelled.status, cancelled.closed_at, cancelled.failure_reason) == (
        PurchaseStatus.CANCELLED,
        now,
        "cancelled at the checkout",
    )
    assert world.purchase(second.purchase_id).failure_reason == "closed by an operator"


def test_a_release_cancels_the_other_pending_purchases_and_closes_only_payable_checkouts() -> None:
    world = world_with_sites(4)
    kept, other, ending, final = (
        world.purchases.start(f"site-{n}", f"buyer-{n}@example.com") for n in range(4)
    )
    site = world.site("site-0")
    now = world.clock.now()
    # Several purchases of one site, as races and lost calls leave them.
    for started, changes in (
        (other, {}),
        (ending, {"expires_at": now}),
        (final, {"status": PurchaseStatus.REFUND_DUE}),
    ):
        purchase = world.purchase(started.purchase_id)
        world.store.purchases[purchase.id] = attrs.evolve(purchase, site_id=site.id, **changes)

    with world.uow() as uow:
        closing = world.purchases.release_others(
            uow, site.id, now, "the site was sold", keep=kept.purchase_id
        )
        uow.commit()
    for close in closing:
        close()

    for started in (other, ending):
        released = world.purchase(started.purchase_id)
        assert (released.status, released.closed_at, released.failure_reason) == (
            PurchaseStatus.CANCELLED,
            now,
            "the site was sold",
        )
    assert world.purchase(kept.purchase_id).status is PurchaseStatus.PENDING
    assert world.purchase(final.purchase_id).status is PurchaseStatus.REFUND_DUE
    assert not world.gateway.is_open(other.checkout_id)
    # Its hold was over: nobody can pay it any more, so no call is made.
    assert world.gateway.is_open(ending.checkout_id)
    assert world.gateway.is_open(kept.checkout_id)
    assert world.gateway.is_open(final.checkout_id)
    assert len(closing) == 1
