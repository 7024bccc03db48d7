"""``webmagic db ...``: the database schema."""

from __future__ import annotations

import typer
from rich.text import Text

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.errors import translating_errors
from webmagic_cli import output
from webmagic_cli.options import DatabaseUrl, DataDir, services, settings_from

app = typer.Typer(name="db", help="Manage the database schema.", no_args_is_help=True)


def upgrade_schema(database: Database) -> tuple[str | None, str | None]:
    """Apply the migrations; returns the revision before and after."""
    with translating_errors():
        before = database.current_revision()
        database.upgrade()
        return before, database.current_revision()


@app.command()
def upgrade(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Apply the database migrations (safe to run again; `webmagic serve` also does it).

    With no settings this creates the SQLite file in the data folder (`./webmagic-data`).
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings, require_schema=False) as container:
        output.say(Text("Database: ") + Text(container.database.url_for_display, style="bold"))
        before, after = upgrade_schema(container.database)
    if before == after:
        output.say(f"Already up to date (revision {after}).", style="green")
    else:
        output.say(f"Upgraded from {before or 'an empty database'} to revision {after}.", style="green")


@app.command()
def gc(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Delete stored file bodies that no site version uses any more.

    Bodies are shared by every version and site with the same bytes and are never
    deleted otherwise (versions are all kept, so garbage only comes from operators
    deleting rows by hand or from an interrupted import). Safe while the server runs.
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        freed = container.sites.collect_garbage()
        kept = container.sites.blob_usage()
    output.say(
        f"Deleted {output.plural(freed.blobs, 'unused file body', 'unused file bodies')} "
        f"({freed.bytes:,} bytes); {kept.blobs:,} kept ({kept.bytes:,} bytes).",
        style="green",
    )
