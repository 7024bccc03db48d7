"""Everything the CLI prints: rich consoles, tables, JSON, and one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from webmagic_core.lifecycle import SiteStatus

STATUS_STYLES: dict[SiteStatus, str] = {
    SiteStatus.PREVIEW: "cyan",
    SiteStatus.OWNED: "green",
    SiteStatus.ACTIVE: "bold green",
    SiteStatus.PAST_DUE: "yellow",
    SiteStatus.SUSPENDED: "red",
    SiteStatus.ARCHIVED: "dim",
}


def short_id(value: uuid.UUID) -> str:
    """An id as tables show it: its first 8 characters (commands accept them; --json has them whole)."""
    return value.hex[:8]


def console() -> Console:
    # Created per call: the streams may be swapped (tests, redirection) after import.
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def say(message: str | Text, *, style: str | None = None) -> None:
    """A plain line to stdout; ``message`` is taken literally (no rich markup)."""
    text = message if isinstance(message, Text) else Text(message)
    console().print(text, style=style or "", soft_wrap=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print one red line per line of ``message`` to stderr and exit with ``code``."""
    for line in message.splitlines() or [""]:
        err_console().print(Text("Error: ", style="bold red") + Text(line, style="red"), soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console().print(Text("Warning: ", style="bold yellow") + Text(message), soft_wrap=True)


def status_text(status: SiteStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES[status])


def when(moment: dt.datetime) -> str:
    """A time for people: UTC, to the second."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: dt.datetime) -> str:
    """A time for programs: ISO 8601 with its UTC offset."""
    return moment.astimezone(dt.UTC).isoformat()


def table(*columns: str, title: str | None = None, no_wrap: Sequence[str] = ()) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold", show_edge=False, pad_edge=False)
    for column in columns:
        grid.add_column(column, overflow="fold", no_wrap=column in no_wrap)
    return grid


def print_table(grid: Table) -> None:
    console().print(grid)


def print_json(data: Any) -> None:
    # Plain print, not rich: machine output must not be wrapped or coloured.
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"
