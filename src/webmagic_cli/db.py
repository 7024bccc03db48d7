"""``webmagic db ...``: the database schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn
from rich.text import Text

from webmagic_adapters.bootstrap import (
    Database,
    PostgresAdvice,
    backup_sqlite,
    head_revision,
    known_revisions,
    postgres_backup_advice,
    restore_sqlite,
    sqlite_path,
    translating_errors,
)
from webmagic_cli import output
from webmagic_cli.errors import EXIT_REFUSED, UsageProblem
from webmagic_cli.options import DatabaseUrl, DataDir, services, settings_from
from webmagic_core.ports import PreviewBanner

app = typer.Typer(name="db", help="The database: schema, backups.", no_args_is_help=True)


def upgrade_schema(database: Database, banner: PreviewBanner | None = None) -> tuple[str | None, str | None]:
    """Apply the migrations, then render the preview pages whose banner is missing or
    was made under other settings (a new price), with a progress bar on the terminal
    while there are some; returns the revision before and after."""
    bar = _LazyBar("Rendering preview pages")
    try:
        with translating_errors():
            before = database.current_revision()
            attributes = {"preview_banner": banner, "progress": bar.advance} if banner is not None else {}
            database.upgrade(attributes=attributes)
            if banner is not None:
                database.render_banners(banner, bar.advance)
            return before, database.current_revision()
    finally:
        bar.stop()


class _LazyBar:
    """A progress bar shown from the first report of work to do (none when there is none)."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: tuple[Progress, Callable[[int, int], None]] | None = None

    def advance(self, done: int, total: int) -> None:
        if self._bar is None:
            if total == 0:
                return
            self._bar = _progress(self._label)
            self._bar[0].start()
        self._bar[1](done, total)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar[0].stop()
            self._bar = None


@app.command()
def upgrade(
    create: Annotated[
        bool,
        typer.Option(
            "--create", help="Create the SQLite file WEBMAGIC_DATABASE_URL names if it does not exist."
        ),
    ] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Apply the database migrations (safe to run again; `webmagic serve` also does it).

    With no settings this creates the SQLite file in the data folder (`./webmagic-data`).
    A SQLite file named by WEBMAGIC_DATABASE_URL / --database-url is only created with
    --create, so a mistyped path is an error rather than a new empty database.
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings, require_schema=False, create=create) as container:
        output.say(Text("Database: ") + Text(container.database.url_for_display, style="bold"))
        before, after = upgrade_schema(container.database, container.banner)
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


def _progress(label: str) -> tuple[Progress, Callable[[int, int], None]]:
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        console=output.err_console(),
        transient=True,
    )
    task = bar.add_task(label, total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, advance


@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="The file to write the copy to.", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace TARGET if it exists.")] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Copy the database to TARGET while the server keeps running (SQLite).

    The copy is one consistent state, checked before it is put in place, and readable only
    by its owner. For PostgreSQL this prints the pg_dump command to run instead, and checks
    that the installed pg_dump can read the server.
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        database_file = sqlite_path(container.database)
        if database_file is None:
            _advise_pg_dump(postgres_backup_advice(container.database))
            return
        bar, advance = _progress("Copying")
        with bar:
            report = backup_sqlite(database_file, target, overwrite=force, progress=advance)
    output.say(
        f"Backed up {database_file} to {report.path} ({report.size_bytes:,} bytes, schema revision "
        f"{report.revision}).",
        style="green",
    )


def _advise_pg_dump(advice: PostgresAdvice) -> None:
    output.say(f"PostgreSQL {advice.server_version}: back it up with pg_dump (consistent while in use):")
    output.say(f"  {advice.command}")
    output.say("Restore with: pg_restore --no-owner --dbname=<database> <file>.dump")
    if advice.pg_dump_version is None:
        output.warn("pg_dump is not installed here; install the PostgreSQL client of the server's version.")
    elif not advice.pg_dump_usable:
        output.fail(
            f"the installed {advice.pg_dump_version} cannot dump a PostgreSQL {advice.server_major} server; "
            f"install the PostgreSQL {advice.server_major} client",
            code=EXIT_REFUSED,
        )


@app.command()
def restore(
    source: Annotated[
        Path, typer.Argument(help="A backup made by `webmagic db backup`.", show_default=False)
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Replace the SQLite database with a backup (the current one is kept beside it).

    Stop the server first, or restart it afterwards: its page cache would otherwise serve
    what it cached before the restore.
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings, require_schema=False, create=True) as container:
        database_file = sqlite_path(container.database)
        if database_file is None:
            raise UsageProblem("`db restore` restores SQLite databases; for PostgreSQL use pg_restore")
        if not yes and not typer.confirm(
            f"Replace {database_file} with {source}? (the current database is kept beside it)"
        ):
            output.fail("nothing restored", code=EXIT_REFUSED)
        container.database.dispose()  # no pooled connection of ours holds a stale view of the file
        bar, advance = _progress("Restoring")
        with bar:
            report = restore_sqlite(
                source,
                database_file,
                known_revisions=known_revisions(),
                now=container.clock.now(),
                progress=advance,
            )
    output.say(
        f"Restored {report.database} from {source} (schema revision {report.revision}).", style="green"
    )
    if report.previous_copy is not None:
        output.say(f"The database as it was before is kept at {report.previous_copy}.")
    if report.revision != head_revision():
        output.say("Run `webmagic db upgrade` to bring it to this version's schema.", style="yellow")
