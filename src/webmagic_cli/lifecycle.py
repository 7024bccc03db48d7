"""``webmagic lifecycle sweep``: the transitions that time brings about, run once now."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from webmagic_cli import output
from webmagic_cli.errors import EXIT_REFUSED
from webmagic_cli.options import DatabaseUrl, DataDir, Json, services, settings_from
from webmagic_core.services.sweep import SweepReport

app = typer.Typer(
    name="lifecycle",
    help="Time-based transitions: included hosting running out, cancelled subscriptions ending, "
    "missed webhooks, stale checkouts.",
    no_args_is_help=True,
)

# The report's counts, in the order a run takes its steps, with the words the table uses.
COUNTS: tuple[tuple[str, str], ...] = (
    ("reminders_sent", "Reminders sent"),
    ("hosting_expired", "Hosting expired"),
    ("subscriptions_ended", "Subscriptions ended"),
    ("sites_suspended", "Sites suspended"),
    ("synced", "Synced"),
    ("checkouts_expired", "Checkouts expired"),
    ("archived_cancelled", "Archived sites' subscriptions cancelled"),
    ("purchases_paid", "Lost purchase payments found"),
)


def sweep_json(report: SweepReport) -> dict[str, Any]:
    return {**{key: getattr(report, key) for key, _ in COUNTS}, "errors": list(report.errors)}


@app.command()
def sweep(
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Run the lifecycle sweep once, now, and print what it did.

    In order: mail the owners of bought sites 7 days and 1 day before their included
    hosting ends and suspend the sites whose hosting has ended; end the cancelled
    subscriptions whose paid time is over and suspend their sites; re-read from the
    provider the past_due subscriptions and the active ones whose period ended hours ago
    (a webhook may have been lost); start the paid recurring checkouts and expire the
    unpaid ones past their hold.

    `webmagic serve` runs it periodically; running it by hand is safe at any time, as
    often as needed, even while the server (or another sweep) runs: each site is handled
    once, in its own transaction, and no mail goes out twice.

    Exit code 0 when everything went through; 1 when some items failed (they are listed;
    the next run tries them again).

    With `--json`, prints an object with the counts `reminders_sent`, `hosting_expired`,
    `subscriptions_ended`, `sites_suspended` (by any step), `synced` (subscriptions read
    from the provider and applied), `checkouts_expired`, `archived_cancelled` (subscriptions
    of archived sites cancelled at the provider), `purchases_paid` (payments whose webhook
    was lost, found by reconciliation), and `errors` (a list of messages).

    Example: `webmagic lifecycle sweep`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        report = container.sweep.run()
    if as_json:
        output.print_json(sweep_json(report))
    else:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(justify="right")
        for key, label in COUNTS:
            count: int = getattr(report, key)
            grid.add_row(label, Text(str(count), style="bold" if count else "dim"))
        grid.add_row("Errors", Text(str(len(report.errors)), style="bold red" if report.errors else "dim"))
        output.print_table(grid)
        for error in report.errors:
            output.say(f"  ✗ {error}", style="red")
        if report == SweepReport():
            output.say("Nothing to do: every site is where it should be.", style="dim")
    if report.errors:
        raise typer.Exit(EXIT_REFUSED)
