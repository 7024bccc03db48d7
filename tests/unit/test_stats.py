"""Sales statistics: counts per status, revenue per currency, conversion, open anomalies."""

from __future__ import annotations

import uuid

import attrs
import pytest

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.gateway import GatewayError
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.ports import SalesFigures
from webmagic_core.services.stats import StatsService
from webmagic_core.testing.payments import PRICE, PaymentsWorld, payment_payload, payments_world


def buy(world: PaymentsWorld, slug: str, email: str) -> None:
    started = world.purchases.start(slug, email)
    world.deliver(world.paid_payload(started.checkout_id))


def test_no_data_means_zeros_and_no_conversion() -> None:
    stats = payments_world().stats.sales()
    assert stats.sites_by_status == dict.fromkeys(SiteStatus, 0)
    assert stats.purchases_by_status == dict.fromkeys(PurchaseStatus, 0)
    assert (stats.previews, stats.sites_total, stats.sites_purchased, stats.open_anomalies) == (0, 0, 0, 0)
    assert stats.revenue == ()
    assert stats.conversion is None


def test_sales_figures_from_a_day_of_business() -> None:
    world = payments_world()
    for slug in ("casa-rosa", "panaderia", "taller", "cafe-sol", "libreria"):
        world.preview(slug, slug.title())
    buy(world, "casa-rosa", "rosa@example.com")
    buy(world, "panaderia", "luis@example.com")
    world.sites.archive("panaderia")  # sold, then archived: still a sale
    world.purchases.start("taller", "ana@example.com")  # pending
    world.gateway.fail_next(error=GatewayError("refused", status=422))  # a failed purchase
    with pytest.raises(GatewayError):
        world.purchases.start("cafe-sol", "eva@example.com")
    mismatch = world.purchases.start("cafe-sol", "eva@example.com")
    world.deliver(payment_payload(world.gateway.pay(mismatch.checkout_id, amount=Money(1, "USD"))))
    # A sale in another currency (an earlier price setting), straight into the store.
    site_id = world.site("libreria").id
    gtq = Purchase.new(
        site_id=site_id, amount=Money(380000, "GTQ"), buyer_email="x@example.com", now=world.clock.now()
    )
    gtq.mark_paid(world.clock.now(), payment_id="pa_gtq", customer_id=uuid.uuid4())
    world.store.purchases[gtq.id] = gtq

    stats = world.stats.sales()
    assert stats.sites_by_status == {
        **dict.fromkeys(SiteStatus, 0),
        SiteStatus.PREVIEW: 3,
        SiteStatus.OWNED: 1,
        SiteStatus.ARCHIVED: 1,
    }
    assert stats.previews == 3
    assert stats.purchases_by_status == {
        **dict.fromkeys(PurchaseStatus, 0),
        PurchaseStatus.PAID: 3,
        PurchaseStatus.PENDING: 1,
        PurchaseStatus.FAILED: 1,
        PurchaseStatus.REFUND_DUE: 1,
    }
    # Refund-due money is not revenue.
    assert stats.revenue == (Money(380000, "GTQ"), Money(2 * PRICE.amount_in_cents, "USD"))
    assert (stats.sites_total, stats.sites_purchased) == (5, 3)
    assert stats.conversion == 3 / 5
    assert stats.open_anomalies == 1
    [anomaly] = world.store.anomalies.values()
    world.anomalies.resolve(anomaly.id, "refunded")
    assert world.stats.sales().open_anomalies == 0


def test_a_site_bought_twice_counts_once_in_the_conversion() -> None:
    world = payments_world()
    world.preview()
    buy(world, "casa-rosa", "rosa@example.com")
    site_id = world.site().id
    again = Purchase.new(site_id=site_id, amount=PRICE, buyer_email="rosa@example.com", now=world.clock.now())
    again.mark_paid(world.clock.now(), payment_id="pa_2", customer_id=uuid.uuid4())
    world.store.purchases[again.id] = again
    stats = world.stats.sales()
    assert (stats.sites_purchased, stats.conversion) == (1, 1.0)


@attrs.define
class CannedQuery:
    figures: SalesFigures

    def sales(self) -> SalesFigures:
        return self.figures


def test_the_service_fills_in_missing_statuses_and_orders_revenue_by_currency() -> None:
    figures = SalesFigures(
        sites_by_status={SiteStatus.OWNED: 2},
        purchases_by_status={PurchaseStatus.PAID: 2},
        revenue_by_currency={"USD": 99000, "GTQ": 5},
        sites_purchased=2,
        open_anomalies=0,
    )
    stats = StatsService(CannedQuery(figures)).sales()
    assert stats.previews == 0
    assert stats.sites_by_status[SiteStatus.ACTIVE] == 0
    assert stats.purchases_by_status[PurchaseStatus.EXPIRED] == 0
    assert stats.revenue == (Money(5, "GTQ"), Money(99000, "USD"))
    assert stats.conversion == 1.0
