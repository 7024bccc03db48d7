"""``webmagic stats``: sales statistics, computed by the database (aggregates, not rows)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from webmagic_cli import output
from webmagic_cli.options import DatabaseUrl, DataDir, Json, services, settings_from
from webmagic_cli.payments import PURCHASE_STYLES
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.services.stats import SalesStats


def conversion_percent(figures: SalesStats) -> float | None:
    """Preview -> purchase conversion in percent, to two decimals; None while there are no sites."""
    return None if figures.conversion is None else round(figures.conversion * 100, 2)


def stats_json(figures: SalesStats) -> dict[str, Any]:
    return {
        "previews": figures.previews,
        "sites_total": figures.sites_total,
        "sites_by_status": {status.value: figures.sites_by_status[status] for status in SiteStatus},
        "purchases_by_status": {
            status.value: figures.purchases_by_status[status] for status in PurchaseStatus
        },
        "revenue": [
            {"currency": money.currency, "amount_in_cents": money.amount_in_cents, "formatted": str(money)}
            for money in figures.revenue
        ],
        "sites_purchased": figures.sites_purchased,
        "conversion_percent": conversion_percent(figures),
        "open_anomalies": figures.open_anomalies,
    }


def _counts(counts: dict[str, int], styles: dict[str, str]) -> Text:
    text = Text()
    for index, (name, count) in enumerate(counts.items()):
        if index:
            text.append(", ")
        text.append(f"{count} ")
        text.append(name, style=styles.get(name, "") if count else "dim")
    return text


def stats(
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Sales statistics: previews, sites by status, purchases, revenue, conversion, anomalies.

    Conversion is the share of all sites ever created (archived ones included) that were
    bought at least once. Revenue sums the paid purchases, per currency.

    With `--json`, prints an object with these keys (stable; new keys may be added):

    - `previews`: sites in preview now
    - `sites_total`, and `sites_by_status`: every site status and its count
    - `purchases_by_status`: pending, paid, failed, expired, cancelled, refund_due
    - `revenue`: a list, by currency code, of `currency`, `amount_in_cents`, `formatted`
    - `sites_purchased`: sites bought at least once
    - `conversion_percent`: `sites_purchased` / `sites_total` x 100, two decimals (null with no sites)
    - `open_anomalies`

    Example: `webmagic stats --json`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        figures = container.stats.sales()
    if as_json:
        output.print_json(stats_json(figures))
        return

    site_styles = {status.value: style for status, style in output.STATUS_STYLES.items()}
    purchase_styles = {status.value: style for status, style in PURCHASE_STYLES.items()}
    percent = conversion_percent(figures)
    purchases = figures.purchases_by_status

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Previews", Text(str(figures.previews), style="bold"))
    grid.add_row(
        "Sites",
        Text(f"{figures.sites_total}: ")
        + _counts({s.value: figures.sites_by_status[s] for s in SiteStatus}, site_styles),
    )
    grid.add_row(
        "Purchases",
        _counts({s.value: purchases[s] for s in PurchaseStatus}, purchase_styles),
    )
    grid.add_row(
        "Revenue",
        Text(", ".join(str(money) for money in figures.revenue) or "none yet", style="green"),
    )
    grid.add_row(
        "Conversion",
        Text("— (no sites yet)")
        if percent is None
        else Text(f"{percent:.1f} %", style="bold")
        + Text(f" of sites bought ({figures.sites_purchased} of {figures.sites_total})"),
    )
    grid.add_row(
        "Open anomalies",
        Text(str(figures.open_anomalies), style="bold red" if figures.open_anomalies else "green")
        + (Text("  (see `webmagic payments anomalies`)") if figures.open_anomalies else Text()),
    )
    output.print_table(grid)
