"""The StatsQuery port: ``FakeStatsQuery`` and ``SqlStatsQuery`` (SQLite, PostgreSQL) give
the same figures for the same data; the SQL one computes them with aggregates."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import attrs
import pytest
from sqlalchemy import event

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.stats import SqlStatsQuery
from webmagic_core.accounts.customers import Customer
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.money import Money
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.ports import SalesFigures, StatsQuery, UnitOfWorkFactory
from webmagic_core.sites import Actor, Site
from webmagic_core.testing import FakeStatsQuery, FakeUnitOfWorkFactory

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
USD, GTQ = Money(49500, "USD"), Money(385000, "GTQ")


class Backend(Protocol):  # conftest.Backend
    database: Database | None

    @property
    def uow(self) -> UnitOfWorkFactory: ...


def query_for(backend: Backend) -> StatsQuery:
    if backend.database is not None:
        return SqlStatsQuery(backend.database)
    fake = backend.uow
    assert isinstance(fake, FakeUnitOfWorkFactory)
    return FakeStatsQuery(fake.store)


def site(slug: str) -> Site:
    return Site.new_preview(slug=slug, business_name=slug.title(), now=T0, actor=Actor.ADMIN, cause="t")


def bought(item: Site, customer: Customer) -> Site:
    item.sell(customer.id, cause="paid", actor=Actor.WEBHOOK, at=T0)
    return item


def purchase(item: Site, status: PurchaseStatus, amount: Money = USD, **changes: Any) -> Purchase:
    made = Purchase.new(site_id=item.id, amount=amount, buyer_email="buyer@example.com", now=T0)
    return attrs.evolve(made, status=status, **changes)


def fill(uow: UnitOfWorkFactory) -> None:
    """Sites in four states, purchases in every state and two currencies, open and
    resolved anomalies."""
    rosa, juan = (
        Customer.new(email="rosa@example.com", now=T0),
        Customer.new(email="juan@example.com", now=T0),
    )
    previews = [site(f"preview-{n}") for n in range(3)]
    owned_usd = bought(site("owned-usd"), rosa)
    owned_gtq = bought(site("owned-gtq"), juan)
    archived_after_sale = bought(site("archived-after-sale"), rosa)
    archived_after_sale.apply(Trigger.ARCHIVED, cause="t", actor=Actor.ADMIN, at=T0)
    archived = site("archived")
    archived.apply(Trigger.ARCHIVED, cause="t", actor=Actor.ADMIN, at=T0)
    purchases = [
        purchase(owned_usd, PurchaseStatus.PAID, customer_id=rosa.id),
        # A double sale: the second payment is owed back, not revenue.
        purchase(owned_usd, PurchaseStatus.REFUND_DUE, failure_reason="sold to another buyer"),
        purchase(owned_gtq, PurchaseStatus.PAID, GTQ, customer_id=juan.id),
        purchase(archived_after_sale, PurchaseStatus.PAID, customer_id=rosa.id),
        # Paid twice for one site (honoured after all): one site purchased, both revenue.
        purchase(archived_after_sale, PurchaseStatus.PAID, Money(100, "USD"), customer_id=rosa.id),
        purchase(previews[0], PurchaseStatus.PENDING),
        purchase(previews[0], PurchaseStatus.EXPIRED),
        purchase(previews[1], PurchaseStatus.FAILED, GTQ),
        purchase(previews[1], PurchaseStatus.CANCELLED),
        purchase(previews[2], PurchaseStatus.FAILED),
    ]
    anomalies = [
        Anomaly.new(AnomalyKind.DOUBLE_SALE, "double_sale:1", "s", "d", T0),
        Anomaly.new(AnomalyKind.UNKNOWN_CHECKOUT, "unknown_checkout:ch_1", "s", "d", T0),
        attrs.evolve(
            Anomaly.new(AnomalyKind.AMOUNT_MISMATCH, "amount_mismatch:1", "s", "d", T0),
            resolved_at=T0,
            resolution="refunded",
        ),
    ]
    with uow() as work:
        work.customers.add(rosa)
        work.customers.add(juan)
        for item in [*previews, owned_usd, owned_gtq, archived_after_sale, archived]:
            work.sites.add(item)
        for each in purchases:
            work.purchases.add(each)
        for each in anomalies:
            work.anomalies.add(each)
        work.commit()


EXPECTED = SalesFigures(
    sites_by_status={SiteStatus.PREVIEW: 3, SiteStatus.OWNED: 2, SiteStatus.ARCHIVED: 2},
    purchases_by_status={
        PurchaseStatus.PAID: 4,
        PurchaseStatus.REFUND_DUE: 1,
        PurchaseStatus.PENDING: 1,
        PurchaseStatus.EXPIRED: 1,
        PurchaseStatus.FAILED: 2,
        PurchaseStatus.CANCELLED: 1,
    },
    revenue_by_currency={"USD": 49500 + 49500 + 100, "GTQ": 385000},
    sites_purchased=3,
    open_anomalies=2,
)


def test_the_figures_of_an_empty_database_are_empty(backend: Backend) -> None:
    assert query_for(backend).sales() == SalesFigures(
        sites_by_status={},
        purchases_by_status={},
        revenue_by_currency={},
        sites_purchased=0,
        open_anomalies=0,
    )


def test_every_backend_gives_the_same_figures_for_the_same_data(backend: Backend) -> None:
    fill(backend.uow)
    figures = query_for(backend).sales()
    assert figures == EXPECTED
    # And the same as the reference, computed by iterating over the same rows.
    reference = FakeUnitOfWorkFactory()
    fill(reference)
    assert FakeStatsQuery(reference.store).sales() == figures
    assert all(type(n) is int for n in [*figures.revenue_by_currency.values(), figures.sites_purchased])


def test_the_figures_are_aggregated_by_the_database_in_one_statement(database: Database) -> None:
    fill(database.unit_of_work)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        figures = SqlStatsQuery(database).sales()
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert figures == EXPECTED
    [sql] = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    normalized = " ".join(sql.upper().split())
    assert "GROUP BY" in normalized
    assert "COUNT(" in normalized
    assert "SUM(" in normalized
    assert "UNION ALL" in normalized


@pytest.mark.parametrize("extra", [0, 25])
def test_the_figures_follow_new_rows(database: Database, extra: int) -> None:
    fill(database.unit_of_work)
    with database.unit_of_work() as work:
        for n in range(extra):
            item = site(f"more-{n}")
            work.sites.add(item)
            work.purchases.add(purchase(item, PurchaseStatus.PENDING))
        work.commit()
    figures = SqlStatsQuery(database).sales()
    assert figures.sites_by_status[SiteStatus.PREVIEW] == 3 + extra
    assert figures.purchases_by_status[PurchaseStatus.PENDING] == 1 + extra
    assert figures.revenue_by_currency == EXPECTED.revenue_by_currency
