"""``webmagic payments ...``: purchases, reconciliation with the provider, and anomalies."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.text import Text

from webmagic_adapters.bootstrap import Container, format_money
from webmagic_cli import output
from webmagic_cli.errors import EXIT_REFUSED, UsageProblem
from webmagic_cli.options import (
    SHORT_ID_SEARCH,
    DatabaseUrl,
    DataDir,
    Json,
    only,
    resolve_id,
    services,
    settings_from,
)
from webmagic_core.payments.anomalies import Anomaly
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.services.purchases import ReconcileItem, ReconcileReport, ReconcileResult

app = typer.Typer(
    name="payments",
    help="Purchases: list them, reconcile the pending ones with the provider, handle anomalies.",
    no_args_is_help=True,
)

MAX_LIST = 10_000
NONE = "—"

PURCHASE_STYLES: dict[PurchaseStatus, str] = {
    PurchaseStatus.PENDING: "yellow",
    PurchaseStatus.PAID: "green",
    PurchaseStatus.FAILED: "red",
    PurchaseStatus.EXPIRED: "dim",
    PurchaseStatus.CANCELLED: "dim",
    PurchaseStatus.REFUND_DUE: "bold red",
}
RESULT_STYLES: dict[ReconcileResult, str] = {
    ReconcileResult.PAID: "green",
    ReconcileResult.CLOSED: "dim",
    ReconcileResult.ANOMALY: "bold red",
    ReconcileResult.EXPIRED: "dim",
    ReconcileResult.PENDING: "yellow",
    ReconcileResult.ERROR: "red",
}
# The summary line's order (what changed first, what is left last) and words.
RESULT_WORDS: dict[ReconcileResult, tuple[str, str]] = {
    ReconcileResult.PAID: ("paid", "paid"),
    ReconcileResult.CLOSED: ("checkout closed", "checkouts closed"),
    ReconcileResult.ANOMALY: ("anomaly", "anomalies"),
    ReconcileResult.EXPIRED: ("expired", "expired"),
    ReconcileResult.PENDING: ("still pending", "still pending"),
    ReconcileResult.ERROR: ("error", "errors"),
}

# Shared with ``webmagic webhooks``.
Limit = Annotated[
    int, typer.Option("--limit", "-n", help="Show at most this many, newest first.", min=1, max=MAX_LIST)
]


def site_slugs(container: Container) -> dict[uuid.UUID, str]:
    """Every site's slug by id (archived ones too): purchases, anomalies and webhooks name
    sites by id, people by slug."""
    return {site.id: site.slug for site in container.sites.list_sites()}


def slug_of(slugs: Mapping[uuid.UUID, str], site_id: uuid.UUID | None) -> str | None:
    return slugs.get(site_id) if site_id is not None else None


def maybe(value: object | None) -> str:
    return NONE if value is None else str(value)


# --- list ---------------------------------------------------------------------------------------


def _purchase_json(purchase: Purchase, slugs: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "id": str(purchase.id),
        "site_id": str(purchase.site_id),
        "site_slug": slug_of(slugs, purchase.site_id),
        "status": purchase.status.value,
        "amount_in_cents": purchase.amount.amount_in_cents,
        "currency": purchase.amount.currency,
        "buyer_email": purchase.buyer_email,
        "buyer_name": purchase.buyer_name,
        "customer_id": str(purchase.customer_id) if purchase.customer_id else None,
        "checkout_id": purchase.checkout_id,
        "payment_id": purchase.payment_id,
        "created_at": output.iso(purchase.created_at),
        "expires_at": output.iso(purchase.expires_at),
        "paid_at": output.iso(purchase.paid_at) if purchase.paid_at else None,
        "closed_at": output.iso(purchase.closed_at) if purchase.closed_at else None,
        "failure_reason": purchase.failure_reason,
    }


@app.command("list")
def list_purchases(
    status: Annotated[
        PurchaseStatus | None,
        only("purchases in this status", PurchaseStatus),
    ] = None,
    limit: Limit = 50,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """List purchases, newest first.

    With `--json`, prints an array of objects with `id`, `site_id`, `site_slug`, `status`,
    `amount_in_cents`, `currency`, `buyer_email`, `buyer_name`, `customer_id`,
    `checkout_id`, `payment_id`, `created_at`, `expires_at`, `paid_at`, `closed_at` and
    `failure_reason` (times in ISO 8601; null when not applicable).

    Example: `webmagic payments list --status pending`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        purchases = container.purchases.list(status=status, limit=limit)
        slugs = site_slugs(container)
    if as_json:
        output.print_json([_purchase_json(purchase, slugs) for purchase in purchases])
        return
    if not purchases:
        output.say(f"No {status.value} purchases." if status else "No purchases yet.")
        return
    grid = output.table(
        "ID", "Site", "Buyer", "Amount", "Status", "Created", "Checkout", no_wrap=("ID", "Created")
    )
    for purchase in purchases:
        grid.add_row(
            output.short_id(purchase.id),
            Text(maybe(slug_of(slugs, purchase.site_id)), style="bold"),
            Text(purchase.buyer_email),
            format_money(purchase.amount),
            Text(purchase.status.value, style=PURCHASE_STYLES[purchase.status]),
            output.when(purchase.created_at),
            Text(maybe(purchase.checkout_id)),
        )
    output.print_table(grid)
    output.say(f"{output.plural(len(purchases), 'purchase')} (newest first).", style="dim")


# --- reconcile ----------------------------------------------------------------------------------


def _reconcile_json(report: ReconcileReport) -> dict[str, Any]:
    return {
        "items": [
            {
                "purchase_id": str(item.purchase_id),
                "checkout_id": item.checkout_id,
                "result": item.result.value,
                "detail": item.detail,
            }
            for item in report.items
        ],
        "counts": {result.value: report.count(result) for result in ReconcileResult},
    }


def _summary(report: ReconcileReport) -> str:
    counts = ", ".join(output.plural(report.count(result), *words) for result, words in RESULT_WORDS.items())
    return f"Reconciled {output.plural(len(report.items), 'pending purchase')}: {counts}."


def _reconcile_row(
    item: ReconcileItem, purchase: Purchase, slugs: Mapping[uuid.UUID, str]
) -> tuple[Any, ...]:
    return (
        str(item.purchase_id),
        Text(maybe(slug_of(slugs, purchase.site_id)), style="bold"),
        Text(purchase.buyer_email),
        Text(maybe(item.checkout_id)),
        Text(item.result.value, style=RESULT_STYLES[item.result]),
        Text(maybe(item.detail), style="red" if item.result is ReconcileResult.ERROR else ""),
    )


@app.command()
def reconcile(
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Ask the payment provider about every pending purchase, every hold closed in the
    last 3 days and its list of recent checkouts, and apply what it says.

    A paid checkout is applied exactly as its webhook would be (for a webhook that got
    lost, or a provider that sends none; a paid checkout no purchase knows is an anomaly);
    an unpaid one past its hold is marked expired; an unpaid checkout still payable that
    holds nothing any more is closed at the provider; the others stay pending. The server
    runs this every hour too. Safe to run at any time and as often as needed.

    Exit code 0 even when purchases stay pending; 1 when the provider could not be asked
    about some of them (run it again later).

    With `--json`, prints `{"items": [...], "counts": {...}}`: each item has
    `purchase_id`, `checkout_id`, `result` (paid, closed, anomaly, expired, pending or
    error) and
    `detail`; `counts` has the number of items for every result.

    Example: `webmagic payments reconcile`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        if not as_json:
            output.say(
                Text("Asking the ")
                + Text(settings.payments.value, style="bold")
                + Text(" payment gateway about the pending purchases.")
            )
        report = container.purchases.reconcile()
        purchases = {item.purchase_id: container.purchases.get(item.purchase_id) for item in report.items}
        slugs = site_slugs(container) if purchases else {}
    errors = report.count(ReconcileResult.ERROR)
    if as_json:
        output.print_json(_reconcile_json(report))
    elif not report.items:
        output.say("No pending purchases: nothing to reconcile.")
    else:
        grid = output.table(
            "Purchase", "Site", "Buyer", "Checkout", "Result", "Detail", no_wrap=("Purchase",)
        )
        for item in report.items:
            grid.add_row(*_reconcile_row(item, purchases[item.purchase_id], slugs))
        output.print_table(grid)
        output.say(_summary(report), style="bold red" if errors else "bold")
    if errors:
        raise typer.Exit(EXIT_REFUSED)


# --- anomalies ----------------------------------------------------------------------------------


def _anomaly_json(anomaly: Anomaly, slugs: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "id": str(anomaly.id),
        "kind": anomaly.kind.value,
        "site_id": str(anomaly.site_id) if anomaly.site_id else None,
        "site_slug": slug_of(slugs, anomaly.site_id),
        "purchase_id": str(anomaly.purchase_id) if anomaly.purchase_id else None,
        "webhook_event_id": anomaly.webhook_event_id,
        "summary": anomaly.summary,
        "details": anomaly.details,
        "created_at": output.iso(anomaly.created_at),
        "resolved_at": output.iso(anomaly.resolved_at) if anomaly.resolved_at else None,
        "resolution": anomaly.resolution,
    }


@app.command()
def anomalies(
    show_all: Annotated[
        bool, typer.Option("--all", "-a", help="Resolved anomalies too, not only the open ones.")
    ] = False,
    limit: Limit = 100,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """List payments that did not fit and need a person: the open ones by default.

    Amount mismatches, double sales, payments for unknown checkouts or unavailable sites,
    and webhooks that could not be applied. Once handled (refunded, settled by hand), mark
    each one with `webmagic payments resolve ID --note "..."`.

    With `--json`, prints an array of objects with `id`, `kind`, `site_id`, `site_slug`,
    `purchase_id`, `webhook_event_id`, `summary`, `details`, `created_at`, `resolved_at`
    and `resolution`.

    Example: `webmagic payments anomalies --all`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        found = container.anomalies.list(open_only=not show_all, limit=limit)
        slugs = site_slugs(container)
    if as_json:
        output.print_json([_anomaly_json(anomaly, slugs) for anomaly in found])
        return
    if not found:
        output.say("No anomalies." if show_all else "No open anomalies.")
        return
    columns = ["ID", "Kind", "Site", "Summary", "Created"] + (["Resolved"] if show_all else [])
    grid = output.table(*columns, no_wrap=("ID", "Created"))
    for anomaly in found:
        row: list[Any] = [
            output.short_id(anomaly.id),
            Text(anomaly.kind.value, style="bold red" if anomaly.is_open else ""),
            Text(maybe(slug_of(slugs, anomaly.site_id)), style="bold"),
            Text(anomaly.summary),
            output.when(anomaly.created_at),
        ]
        if show_all:
            row.append(
                Text(f"{output.when(anomaly.resolved_at)}: {anomaly.resolution}")
                if anomaly.resolved_at
                else Text("open", style="bold red")
            )
        grid.add_row(*row)
    output.print_table(grid)
    kind = "" if show_all else "open "
    output.say(
        f"{output.plural(len(found), kind + 'anomaly', kind + 'anomalies')} (newest first).", style="dim"
    )


@app.command()
def resolve(
    anomaly_id: Annotated[
        str,
        typer.Argument(
            help="The anomaly's id, or its first characters as `payments anomalies` shows them.",
            metavar="ANOMALY_ID",
            show_default=False,
        ),
    ],
    note: Annotated[
        str,
        typer.Option(
            "--note",
            help="How it was handled (refunded, settled by hand...), kept with it.",
            show_default=False,
        ),
    ],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Mark an anomaly resolved, saying how; it leaves the open list.

    Example: `webmagic payments resolve 0b7e3c1e-... --note "refunded pa_123 on 2026-03-02"`
    """
    if not note.strip():
        raise UsageProblem("--note must say how the anomaly was handled")
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        parsed = resolve_id(
            anomaly_id,
            "an anomaly",
            "payments anomalies",
            lambda: (a.id for a in container.anomalies.list(open_only=False, limit=SHORT_ID_SEARCH)),
        )
        anomaly = container.anomalies.resolve(parsed, note)
    output.say(
        Text("Resolved ")
        + Text(str(anomaly.id), style="bold")
        + Text(f" ({anomaly.kind.value}): {anomaly.resolution}")
    )
