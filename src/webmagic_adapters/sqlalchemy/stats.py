"""``StatsQuery`` on SQL aggregates: the sales figures of ``webmagic stats`` in one
statement, the subscription figures in another.

The aggregates of each are joined with UNION ALL into one SELECT, so the database does
the counting (no entity row is ever loaded) and every figure comes from the same snapshot
(one statement reads one snapshot on PostgreSQL and SQLite alike). The result has one
row per status or currency present, plus two.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.errors import translating_errors
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.subscriptions import SubscriptionState
from webmagic_core.ports import SalesFigures, SubscriptionFigures

# The first column of each row: which figure it holds.
_SITES, _PURCHASES, _REVENUE = "sites", "purchases", "revenue"
_PURCHASED, _ANOMALIES = "purchased", "anomalies"
_SUBSCRIPTIONS, _MONTHLY = "subscriptions", "monthly"
_AT_START, _ENDED = "at_start", "ended"


def _figures() -> CompoundSelect[Any]:
    sites, purchases, anomalies = t.sites, t.purchases, t.anomalies
    paid = purchases.c.status == PurchaseStatus.PAID.value
    no_key = cast(null(), String)
    return union_all(
        select(literal(_SITES), sites.c.status, func.count()).group_by(sites.c.status),
        select(literal(_PURCHASES), purchases.c.status, func.count()).group_by(purchases.c.status),
        select(literal(_REVENUE), purchases.c.currency, func.sum(purchases.c.amount_in_cents))
        .where(paid)
        .group_by(purchases.c.currency),
        select(literal(_PURCHASED), no_key, func.count(purchases.c.site_id.distinct())).where(paid),
        select(literal(_ANOMALIES), no_key, func.count()).where(anomalies.c.resolved_at.is_(None)),
    )


def _subscription_figures() -> CompoundSelect[Any]:
    """``SubscriptionFigures`` for the window ``(:since, :now]``."""
    subs = t.subscriptions
    billed = subs.c.status.in_([SubscriptionState.ACTIVE.value, SubscriptionState.PAST_DUE.value])
    since, now = bindparam("since", type_=t.UTCDateTime()), bindparam("now", type_=t.UTCDateTime())
    at_start = and_(subs.c.started_at <= since, or_(subs.c.ended_at.is_(None), subs.c.ended_at > since))
    no_key = cast(null(), String)
    return union_all(
        select(literal(_SUBSCRIPTIONS), subs.c.status, func.count()).group_by(subs.c.status),
        select(literal(_MONTHLY), subs.c.currency, func.sum(subs.c.amount_in_cents))
        .where(billed)
        .group_by(subs.c.currency),
        select(literal(_AT_START), no_key, func.count()).where(at_start),
        select(literal(_ENDED), no_key, func.count()).where(at_start, subs.c.ended_at <= now),
    )


class SqlStatsQuery:
    """Runs outside any unit of work, on a connection of its own."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine
        self._query = _figures()
        self._subscriptions_query = _subscription_figures()

    def sales(self) -> SalesFigures:
        with translating_errors(), self._engine.connect() as connection:
            rows = connection.execute(self._query).all()
            connection.rollback()
        sites: dict[SiteStatus, int] = {}
        purchases: dict[PurchaseStatus, int] = {}
        revenue: dict[str, int] = {}
        scalars = {_PURCHASED: 0, _ANOMALIES: 0}
        for figure, key, value in rows:
            # SUM is NUMERIC on PostgreSQL (a Decimal); every figure is a whole number.
            number = int(value or 0)
            if figure == _SITES:
                sites[SiteStatus(key)] = number
            elif figure == _PURCHASES:
                purchases[PurchaseStatus(key)] = number
            elif figure == _REVENUE:
                revenue[key] = number
            else:
                scalars[figure] = number
        return SalesFigures(
            sites_by_status=sites,
            purchases_by_status=purchases,
            revenue_by_currency=revenue,
            sites_purchased=scalars[_PURCHASED],
            open_anomalies=scalars[_ANOMALIES],
        )

    def subscriptions(self, since: dt.datetime, now: dt.datetime) -> SubscriptionFigures:
        with translating_errors(), self._engine.connect() as connection:
            rows = connection.execute(self._subscriptions_query, {"since": since, "now": now}).all()
            connection.rollback()
        by_status: dict[SubscriptionState, int] = {}
        monthly: dict[str, int] = {}
        scalars = {_AT_START: 0, _ENDED: 0}
        for figure, key, value in rows:
            number = int(value or 0)  # SUM is a Decimal on PostgreSQL
            if figure == _SUBSCRIPTIONS:
                by_status[SubscriptionState(key)] = number
            elif figure == _MONTHLY:
                monthly[key] = number
            else:
                scalars[figure] = number
        return SubscriptionFigures(
            by_status=by_status,
            monthly_by_currency=monthly,
            subscribed_at_start=scalars[_AT_START],
            ended_in_window=scalars[_ENDED],
        )
