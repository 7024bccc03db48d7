"""Sales statistics (``webmagic stats``), from the aggregates a ``StatsQuery`` computes.

Conversion (preview -> purchase) is the share of all sites ever created (every status,
archived included) that were ever bought (at least one paid purchase), so it neither
drops when a sold site is archived nor counts a site twice.

Subscriptions (``StatsService.subscriptions``): MRR is the monthly amount of every
subscription that is active or past_due (still billed; paused and cancelled ones are
not), per currency. Churn over a window (default the last 30 days) is a cohort rate: of
the subscriptions that were running at the window's start (started, not ended), the share
that ended within it. Subscriptions started during the window count in neither term, so
the rate lies between 0 and 1; it is None when nothing was running at the start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.subscriptions import SubscriptionState
from webmagic_core.ports import StatsQuery


@attrs.frozen
class SalesStats:
    sites_by_status: Mapping[SiteStatus, int]  # every status, zero when none
    purchases_by_status: Mapping[PurchaseStatus, int]  # every status, zero when none
    revenue: tuple[Money, ...]  # paid purchases, one entry per currency, by currency code
    sites_total: int
    sites_purchased: int
    open_anomalies: int

    @property
    def previews(self) -> int:
        return self.sites_by_status[SiteStatus.PREVIEW]

    @property
    def conversion(self) -> float | None:
        """Sites ever bought / sites ever created; None while there are no sites."""
        return self.sites_purchased / self.sites_total if self.sites_total else None


@attrs.frozen
class SubscriptionStats:
    by_status: Mapping[SubscriptionState, int]  # every status, zero when none
    mrr: tuple[Money, ...]  # one entry per currency, by currency code
    since: dt.datetime  # the churn window is (since, now]
    now: dt.datetime
    subscribed_at_start: int
    ended_in_window: int

    @property
    def active(self) -> int:
        return self.by_status[SubscriptionState.ACTIVE]

    @property
    def past_due(self) -> int:
        return self.by_status[SubscriptionState.PAST_DUE]

    @property
    def churn(self) -> float | None:
        """Ended within the window / running at its start; None when none was running."""
        return self.ended_in_window / self.subscribed_at_start if self.subscribed_at_start else None


CHURN_WINDOW = dt.timedelta(days=30)


@attrs.define
class StatsService:
    query: StatsQuery

    def sales(self) -> SalesStats:
        figures = self.query.sales()
        sites = {status: figures.sites_by_status.get(status, 0) for status in SiteStatus}
        return SalesStats(
            sites_by_status=sites,
            purchases_by_status={
                status: figures.purchases_by_status.get(status, 0) for status in PurchaseStatus
            },
            revenue=tuple(
                Money(cents, currency) for currency, cents in sorted(figures.revenue_by_currency.items())
            ),
            sites_total=sum(sites.values()),
            sites_purchased=figures.sites_purchased,
            open_anomalies=figures.open_anomalies,
        )

    def subscriptions(self, now: dt.datetime, *, window: dt.timedelta = CHURN_WINDOW) -> SubscriptionStats:
        since = now - window
        figures = self.query.subscriptions(since, now)
        return SubscriptionStats(
            by_status={status: figures.by_status.get(status, 0) for status in SubscriptionState},
            mrr=tuple(
                Money(cents, currency) for currency, cents in sorted(figures.monthly_by_currency.items())
            ),
            since=since,
            now=now,
            subscribed_at_start=figures.subscribed_at_start,
            ended_in_window=figures.ended_in_window,
        )
