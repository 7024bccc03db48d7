"""``webmagic stats``: sales and subscription statistics, computed by the database
(aggregates, not rows)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from webmagic_adapters.bootstrap import format_money
from webmagic_cli import output
from webmagic_cli.options import DatabaseUrl, DataDir, Json, services, settings_from
from webmagic_cli.payments import PURCHASE_STYLES
from webmagic_cli.subscriptions import SUBSCRIPTION_STYLES
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.subscriptions import SubscriptionState
from webmagic_core.services.stats import CHURN_WINDOW, SalesStats, SubscriptionStats

CHURN_DAYS = CHURN_WINDOW.days
# The table shows the subscriptions that are billed first.
SUBSCRIPTION_ORDER = (
    SubscriptionState.ACTIVE,
    SubscriptionState.PAST_DUE,
    SubscriptionState.PAUSED,
    SubscriptionState.CANCELLED,
    SubscriptionState.PENDING,
    SubscriptionState.EXPIRED,
    SubscriptionState.UNABLE_TO_START,
)


def _percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 2)


def conversion_percent(figures: SalesStats) -> float | None:
    """Preview -> purchase conversion in percent, to two decimals; None while there are no sites."""
    return _percent(figures.conversion)


def churn_percent(subs: SubscriptionStats) -> float | None:
    """Churn over the window in percent, to two decimals; None when nothing ran at its start."""
    return _percent(subs.churn)


def _amounts(amounts: tuple[Money, ...]) -> list[dict[str, Any]]:
    return [
        {
            "currency": money.currency,
            "amount_in_cents": money.amount_in_cents,
            "formatted": format_money(money),
        }
        for money in amounts
    ]


def stats_json(figures: SalesStats, subs: SubscriptionStats) -> dict[str, Any]:
    return {
        "previews": figures.previews,
        "sites_total": figures.sites_total,
        "sites_by_status": {status.value: figures.sites_by_status[status] for status in SiteStatus},
        "purchases_by_status": {
            status.value: figures.purchases_by_status[status] for status in PurchaseStatus
        },
        "revenue": _amounts(figures.revenue),
        "sites_purchased": figures.sites_purchased,
        "conversion_percent": conversion_percent(figures),
        "open_anomalies": figures.open_anomalies,
        "active_subscriptions": subs.active,
        "past_due_subscriptions": subs.past_due,
        "subscriptions_by_status": {status.value: subs.by_status[status] for status in SubscriptionState},
        "mrr": _amounts(subs.mrr),
        "churn_percent": churn_percent(subs),
        "churn_subscriptions_at_start": subs.subscribed_at_start,
        "churn_subscriptions_ended": subs.ended_in_window,
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
    """Statistics: previews, sites, purchases, revenue, conversion, anomalies, subscriptions.

    Conversion is the share of all sites ever created (archived ones included) that were
    bought at least once. Revenue sums the paid purchases, per currency.

    MRR (monthly recurring revenue) sums the monthly amounts of the subscriptions still
    billed (active and past_due), per currency. Churn is over the last 30 days: of the
    subscriptions running 30 days ago, the share that has ended since (subscriptions
    started within the 30 days count in neither number).

    With `--json`, prints an object with these keys (stable; new keys may be added):

    - `previews`: sites in preview now
    - `sites_total`, and `sites_by_status`: every site status and its count
    - `purchases_by_status`: pending, paid, failed, expired, cancelled, refund_due
    - `revenue`: a list, by currency code, of `currency`, `amount_in_cents`, `formatted`
    - `sites_purchased`: sites bought at least once
    - `conversion_percent`: `sites_purchased` / `sites_total` x 100, two decimals (null with no sites)
    - `open_anomalies`
    - `active_subscriptions`, `past_due_subscriptions`, and `subscriptions_by_status`:
      pending, expired, active, past_due, paused, cancelled, unable_to_start
    - `mrr`: a list, by currency code, of `currency`, `amount_in_cents`, `formatted`
    - `churn_percent`: of the `churn_subscriptions_at_start` subscriptions running 30 days
      ago, the `churn_subscriptions_ended` that ended since, x 100, two decimals (null when
      none was running)

    Example: `webmagic stats --json`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        figures = container.stats.sales()
        subs = container.stats.subscriptions(container.clock.now())
    if as_json:
        output.print_json(stats_json(figures, subs))
        return

    site_styles = {status.value: style for status, style in output.STATUS_STYLES.items()}
    purchase_styles = {status.value: style for status, style in PURCHASE_STYLES.items()}
    subscription_styles = {status.value: style for status, style in SUBSCRIPTION_STYLES.items()}
    percent = conversion_percent(figures)
    churn = churn_percent(subs)
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
        Text(", ".join(format_money(money) for money in figures.revenue) or "none yet", style="green"),
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
    grid.add_row(
        "Subscriptions",
        _counts({s.value: subs.by_status[s] for s in SUBSCRIPTION_ORDER}, subscription_styles),
    )
    grid.add_row(
        "MRR", Text(", ".join(format_money(money) for money in subs.mrr) or "none yet", style="green")
    )
    grid.add_row(
        "Past due",
        Text(str(subs.past_due), style="bold yellow" if subs.past_due else "green")
        + (Text("  (see `webmagic subscriptions list --status past_due`)") if subs.past_due else Text()),
    )
    grid.add_row(
        f"Churn ({CHURN_DAYS} days)",
        Text(f"— (no subscriptions {CHURN_DAYS} days ago)")
        if churn is None
        else Text(f"{churn:.1f} %", style="bold")
        + Text(f" ({subs.ended_in_window} of {subs.subscribed_at_start} ended)"),
    )
    output.print_table(grid)
