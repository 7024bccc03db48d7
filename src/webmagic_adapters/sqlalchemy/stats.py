"""``StatsQuery`` on SQL aggregates: the sales figures of ``webmagic stats`` in one
statement, the subscription figures in another.

The aggregates of each are joined with UNION ALL into one SELECT, so the database does
the counting (no entity row is ever loaded) and every figure comes from the same snapshot
(one statement reads one snapshot on PostgreSQL and SQLite alike). The result has one
row per status or currency present, plus two.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    String,
    and_,
    bindparam,
    cast,
    exists,
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
    # A cancel followed by a new subscription of the same site that carried on is not churn.
    other = subs.alias("other")
    resumed = exists().where(
        other.c.site_id == subs.c.site_id,
        other.c.id != subs.c.id,
        other.c.started_at.is_not(None),
        other.c.started_at <= now,
        or_(other.c.ended_at.is_(None), other.c.ended_at > subs.c.ended_at),
    )
    no_key = cast(null(), String)
    return union_all(
        select(literal(_SUBSCRIPTIONS), subs.c.status, func.count()).group_by(subs.c.status),
        select(literal(_MONTHLY), subs.c.currency, func.sum(subs.c.amount_in_cents))
        .where(billed)
        .group_by(subs.c.currency),
        select(literal(_AT_START), no_key, func.count()).where(at_start),
        select(literal(_ENDED), no_key, func.count()).where(at_start, subs.c.ended_at <= now, ~resumed),
    )


class SqlStatsQuery:
    """Runs outside any unit of work, on a connection of its own."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine
        self._query = _figures()
        self._subscriptions_query = _subscription_figures()

    def sales(self) -> SalesFigures:
        figures = self._run(self._query, {})
        return SalesFigures(
            sites_by_status={SiteStatus(key): n for key, n in figures[_SITES].items()},
            purchases_by_status={PurchaseStatus(key): n for key, n in figures[_PURCHASES].items()},
            revenue_by_currency=figures[_REVENUE],
            sites_purchased=figures[_PURCHASED].get(None, 0),
            open_anomalies=figures[_ANOMALIES].get(None, 0),
        )

    def subscriptions(self, since: dt.datetime, now: dt.datetime) -> SubscriptionFigures:
        figures = self._run(self._subscriptions_query, {"since": since, "now": now})
        return SubscriptionFigures(
            by_status={SubscriptionState(key): n for key, n in figures[_SUBSCRIPTIONS].items()},
            monthly_by_currency=figures[_MONTHLY],
            subscribed_at_start=figures[_AT_START].get(None, 0),
            ended_in_window=figures[_ENDED].get(None, 0),
        )

    def _run(self, query: CompoundSelect[Any], params: dict[str, Any]) -> defaultdict[str, dict[Any, int]]:
        """The rows as ``{figure: {key: number}}``; a single number's key is None."""
        with translating_errors(), self._engine.connect() as connection:
            rows = connection.execute(query, params).all()
            connection.rollback()
        figures: defaultdict[str, dict[Any, int]] = defaultdict(dict)
        for figure, key, value in rows:
            figures[figure][key] = int(value or 0)  # SUM is NUMERIC (a Decimal) on PostgreSQL
        return figures
