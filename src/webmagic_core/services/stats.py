"""Sales statistics (``webmagic stats``), from the aggregates a ``StatsQuery`` computes.

Conversion (preview -> purchase) is the share of all sites ever created (every status,
archived included) that were ever bought (at least one paid purchase), so it neither
drops when a sold site is archived nor counts a site twice.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.purchases import PurchaseStatus
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
