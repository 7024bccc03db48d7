"""``webmagic sandbox clock ...``: move the application's time forward, sandbox only.

The offset is stored in the database, so the server, the relay and every command see it
(within a second). Real payments never read it, and these commands refuse to run then.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from webmagic_adapters.bootstrap import (
    Container,
    DurationError,
    Payments,
    SandboxClockStore,
    describe_offset,
    parse_duration,
)
from webmagic_cli import output
from webmagic_cli.errors import UsageProblem
from webmagic_cli.options import DatabaseUrl, DataDir, Json, services, settings_from
from webmagic_core.clock import SystemClock

app = typer.Typer(
    name="clock",
    help="The sandbox test clock: move the application's time forward to watch reminders, "
    "suspensions, renewals and domain grace happen without waiting.",
    no_args_is_help=True,
)

Duration = Annotated[
    str,
    typer.Argument(
        help="How far forward: a number and a unit (m, h, d, w), e.g. 25d, 12h, 90m, or 1d12h.",
        metavar="DURATION",
        show_default=False,
    ),
]


def _store(container: Container) -> SandboxClockStore:
    if container.settings.payments is not Payments.SANDBOX:
        raise UsageProblem(
            "the sandbox clock only works with sandbox payments, and WEBMAGIC_PAYMENTS is "
            f"{container.settings.payments.value} here: real payments run on real time"
        )
    return SandboxClockStore(container.database.engine)


def _report(offset: dt.timedelta, as_json: bool) -> None:
    real = SystemClock().now()
    effective = real + offset
    if as_json:
        document: dict[str, Any] = {
            "offset_seconds": int(offset.total_seconds()),
            "offset": describe_offset(offset),
            "real_time": real.isoformat(),
            "effective_time": effective.isoformat(),
        }
        output.print_json(document)
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Effective time", f"{effective:%Y-%m-%d %H:%M} UTC")
    grid.add_row("Moved forward", describe_offset(offset) if offset else "no (real time)")
    grid.add_row("Real time", f"{real:%Y-%m-%d %H:%M} UTC")
    output.print_table(grid)


@app.command()
def advance(
    duration: Duration,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Move the application's time forward by DURATION (it adds to any earlier advance).

    Every process on this database (server, relay, sweep, CLI) sees the new time within a
    second. Run `webmagic lifecycle sweep` (or let `webmagic serve` run it) to have the
    reminders, suspensions and renewals that fall due happen.

    Example: `webmagic sandbox clock advance 25d`
    """
    with services(settings_from(database_url=database_url, data_dir=data_dir)) as container:
        store = _store(container)
        try:
            by = parse_duration(duration)
        except DurationError as error:
            raise UsageProblem(str(error)) from None
        offset = store.advance(by, now=SystemClock().now())
    _report(offset, as_json)


@app.command()
def show(
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Print the application's effective time and how far it has been moved forward."""
    with services(settings_from(database_url=database_url, data_dir=data_dir)) as container:
        offset = _store(container).offset()
    _report(offset, as_json)


@app.command()
def reset(
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Go back to real time. What happened while the clock was ahead stays as it is."""
    with services(settings_from(database_url=database_url, data_dir=data_dir)) as container:
        store = _store(container)
        store.reset()
        offset = store.offset()
    _report(offset, as_json)
