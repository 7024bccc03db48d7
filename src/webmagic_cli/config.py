"""``webmagic config``: every setting, its default, its meaning and the value in effect."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from webmagic_adapters.bootstrap import settings_env_example, settings_markdown, settings_reference
from webmagic_cli import output
from webmagic_cli.options import settings_from


def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the reference as Markdown (docs/configuration.md).")
    ] = False,
    as_env: Annotated[
        bool, typer.Option("--env-example", help="Print a commented .env file naming every variable.")
    ] = False,
) -> None:
    """Show every WEBMAGIC_* setting: default, meaning, and the value in effect here.

    Secrets are never shown: only whether they are set. Values come from the environment
    and a .env file in the current folder, as every other command reads them.
    """
    if as_markdown:
        typer.echo(settings_markdown(settings_reference()), nl=False)
        return
    if as_env:
        typer.echo(settings_env_example(settings_reference()), nl=False)
        return
    rows = settings_reference(settings_from(database_url=None, data_dir=None))
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "variable": r.variable,
                        "value": r.current,
                        "default": r.default,
                        "secret": r.secret,
                        "meaning": r.meaning,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    table = Table("Variable", "Value", "Default", "Meaning", show_lines=False)
    for row in rows:
        changed = row.current not in (row.default, "not set")
        style = "bold" if changed else ""
        table.add_row(row.variable, row.current or "", row.default, row.meaning, style=style)
    output.console().print(table)
