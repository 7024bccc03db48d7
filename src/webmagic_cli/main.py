"""The ``webmagic`` command: the root app and its entry point."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from webmagic_cli import (
    config,
    customers,
    db,
    demo,
    domains,
    edits,
    lifecycle,
    outbox,
    payments,
    publish,
    sandbox,
    serve,
    sites,
    stats,
    subscriptions,
    webhooks,
)
from webmagic_cli.errors import WebMagicGroup

app = typer.Typer(
    name="webmagic",
    cls=WebMagicGroup,
    help=(
        "WebMagic admin: host the sites WebMagic sells and manage them.\n\n"
        "Settings come from WEBMAGIC_* environment variables (or a .env file in the current "
        "folder); options such as --database-url override them for one command."
    ),
    epilog="Start here: `webmagic serve --demo`",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
)
app.command(rich_help_panel="Run")(serve.serve)
app.command(rich_help_panel="Run")(demo.demo)
app.add_typer(sites.app, rich_help_panel="Manage")
app.add_typer(db.app, rich_help_panel="Manage")
app.add_typer(outbox.app, rich_help_panel="Manage")
app.add_typer(lifecycle.app, rich_help_panel="Manage")
app.command(rich_help_panel="Manage")(config.config)
app.add_typer(domains.app, rich_help_panel="Manage")
app.add_typer(publish.app, rich_help_panel="Manage")
app.add_typer(edits.app, rich_help_panel="Manage")
app.add_typer(customers.app, rich_help_panel="Manage")
app.add_typer(payments.app, rich_help_panel="Payments")
app.add_typer(webhooks.app, rich_help_panel="Payments")
app.add_typer(subscriptions.app, rich_help_panel="Payments")
app.add_typer(sandbox.app, rich_help_panel="Payments")
app.command(rich_help_panel="Payments")(stats.stats)


def _version() -> str:
    try:
        return version("webmagic")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"webmagic {_version()}")
        raise typer.Exit()


@app.callback()
def main(
    _version_flag: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="Show the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    """WebMagic admin: host the sites WebMagic sells and manage them."""


def run() -> None:
    """Console-script entry point (``webmagic = "webmagic_cli.main:run"``)."""
    app()
