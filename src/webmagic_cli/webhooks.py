"""``webmagic webhooks ...``: the stored provider webhooks: list, inspect, replay."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from webmagic_cli import output
from webmagic_cli.options import DatabaseUrl, DataDir, Json, only, services, settings_from
from webmagic_cli.payments import NONE, Limit, maybe, site_slugs, slug_of
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome

app = typer.Typer(
    name="webhooks",
    help="The payment provider's webhooks as received: list them, inspect one, replay one.",
    no_args_is_help=True,
)

OUTCOME_STYLES: dict[WebhookOutcome, str] = {
    WebhookOutcome.PROCESSED: "green",
    WebhookOutcome.DUPLICATE: "dim",
    WebhookOutcome.IGNORED: "yellow",
    WebhookOutcome.ANOMALY: "bold red",
}
NOT_PROCESSED = "not processed"

EventId = Annotated[
    str,
    typer.Argument(
        help="The webhook's id (the provider's svix-id), as `webhooks list` shows it.",
        metavar="ID",
        show_default=False,
    ),
]


def _outcome_text(outcome: WebhookOutcome | None) -> Text:
    if outcome is None:
        return Text(NOT_PROCESSED, style="dim")
    return Text(outcome.value, style=OUTCOME_STYLES[outcome])


def _body(event: WebhookEvent) -> Any:
    """The body as JSON (it was a JSON object when it was stored), else as the raw text."""
    try:
        return json.loads(event.body)
    except ValueError:
        return event.body


def _event_json(event: WebhookEvent, slugs: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    return {
        "id": event.id,
        "event_type": event.event_type,
        "received_at": output.iso(event.received_at),
        "processed_at": output.iso(event.processed_at) if event.processed_at else None,
        "outcome": event.outcome.value if event.outcome else None,
        "error": event.error,
        "site_id": str(event.site_id) if event.site_id else None,
        "site_slug": slug_of(slugs, event.site_id),
        "purchase_id": str(event.purchase_id) if event.purchase_id else None,
    }


@app.command("list")
def list_events(
    outcome: Annotated[
        WebhookOutcome | None,
        only("webhooks with this outcome", WebhookOutcome, "--outcome", "-o", metavar="OUTCOME"),
    ] = None,
    limit: Limit = 50,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """List received webhooks, newest first (never their bodies: see `webhooks show`).

    With `--json`, prints an array of objects with `id`, `event_type`, `received_at`,
    `processed_at`, `outcome` (processed, ignored or anomaly; null if never processed),
    `error` (why it was ignored or is an anomaly), `site_id`, `site_slug` and `purchase_id`.

    Example: `webmagic webhooks list --outcome anomaly`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        events = container.webhooks.list(outcome=outcome, limit=limit)
        slugs = site_slugs(container) if as_json else {}
    if as_json:
        output.print_json([_event_json(event, slugs) for event in events])
        return
    if not events:
        output.say(f"No {outcome.value} webhooks." if outcome else "No webhooks received yet.")
        return
    grid = output.table("ID", "Type", "Received", "Outcome", "Error", no_wrap=("ID", "Received"))
    for event in events:
        grid.add_row(
            Text(event.id),
            Text(event.event_type or "(none)"),
            output.when(event.received_at),
            _outcome_text(event.outcome),
            Text(maybe(event.error), style="red" if event.error else "dim"),
        )
    output.print_table(grid)
    output.say(f"{output.plural(len(events), 'webhook')} (newest first).", style="dim")


@app.command()
def show(
    event_id: EventId,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Show one received webhook: when it came, what became of it, and its body.

    With `--json`, prints the fields `webhooks list --json` has plus `body` (the body as
    received, parsed as JSON).

    Example: `webmagic webhooks show msg_2Lh...`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        event = container.webhooks.get(event_id)
        slugs = site_slugs(container) if event.site_id else {}
    if as_json:
        output.print_json({**_event_json(event, slugs), "body": _body(event)})
        return
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Webhook", Text(event.id, style="bold"))
    facts.add_row("Type", Text(event.event_type or "(none)"))
    facts.add_row("Received", output.when(event.received_at))
    facts.add_row("Processed", output.when(event.processed_at) if event.processed_at else NONE)
    facts.add_row("Outcome", _outcome_text(event.outcome))
    if event.error:
        facts.add_row("Error", Text(event.error, style="red"))
    if event.site_id:
        facts.add_row("Site", Text(slug_of(slugs, event.site_id) or str(event.site_id)))
    if event.purchase_id:
        facts.add_row("Purchase", str(event.purchase_id))
    output.print_table(facts)
    output.say("\nBody", style="bold")
    body = _body(event)
    output.say(json.dumps(body, indent=2, ensure_ascii=False) if not isinstance(body, str) else body)


@app.command()
def replay(
    event_id: EventId,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Apply a stored webhook again, and print what became of it.

    Safe to repeat: what it already did stays done, and no mail goes out twice. Use it
    after fixing what made a webhook an anomaly (its note in `payments anomalies` says so).

    Example: `webmagic webhooks replay msg_2Lh...`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        outcome = container.webhooks.replay(event_id)
        event = container.webhooks.get(event_id)
    line = Text("Replayed ") + Text(event.id, style="bold") + Text(f" ({event.event_type or 'no type'}): ")
    output.say(line + _outcome_text(outcome) + Text("."))
    if event.error:
        output.say(f"  {event.error}", style="red" if outcome is WebhookOutcome.ANOMALY else "dim")
