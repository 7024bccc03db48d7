"""Consistent copies of the database, taken and put back while it is in use.

SQLite: ``sqlite3``'s online backup API copies the file page by page under short read
locks, so the server keeps answering and writing meanwhile, and what lands in the copy is
one consistent state (SQLite restarts the copy when a writer changes a page it already
copied). The copy is written beside the target under a temporary name, checked
(``PRAGMA integrity_check``, a WebMagic schema revision), made a single self-contained
file (journal mode DELETE), synced and only then renamed into place: an interrupted
backup never leaves a file that looks complete. Files are created 0600: a backup holds
the same personal data as the database.

Restoring goes the same way in the other direction, into the database file itself (so
the server's other connections see the restored state on their next transaction), after
copying the current database aside as ``<name>.before-restore-<time>``. A restore of a
database made by a newer WebMagic than the one installed is refused.

PostgreSQL has its own tools: ``pg_dump``/``pg_restore`` take consistent copies of a live
database; :func:`postgres_backup_advice` says which command to run and whether the
installed ``pg_dump`` can read this server.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import attrs
from sqlalchemy import URL, text

from webmagic_adapters.sqlalchemy.database import MIGRATIONS_DIR, Database

PAGES_PER_STEP = 256  # ~1 MB per step at 4 KiB pages: writers wait at most one step
ProgressCallback = Callable[[int, int], None]


class BackupError(ValueError):
    """A backup or restore that cannot be done; the message says why in one line."""


@attrs.frozen
class BackupReport:
    path: Path
    size_bytes: int
    revision: str


@attrs.frozen
class RestoreReport:
    database: Path
    revision: str
    previous_copy: Path | None


@attrs.frozen
class PostgresAdvice:
    server_version: str
    server_major: int
    pg_dump_version: str | None
    pg_dump_major: int | None
    command: str

    @property
    def pg_dump_usable(self) -> bool:
        # pg_dump reads servers of its own major version and older ones.
        return self.pg_dump_major is not None and self.pg_dump_major >= self.server_major


def sqlite_path(database: Database) -> Path | None:
    """The file of a SQLite database (None for PostgreSQL or an in-memory database)."""
    url: URL = database.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database or "").expanduser().resolve()


def _open_existing(path: Path, *, read_only: bool) -> sqlite3.Connection:
    # mode=ro/rw never creates a file: a mistyped path is an error, not a new empty database.
    mode = "ro" if read_only else "rw"
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True)
    except sqlite3.OperationalError:
        raise BackupError(f"no SQLite database at {path}") from None


def _private_file(path: Path) -> None:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)


def _revision(connection: sqlite3.Connection, what: Path) -> str:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        row = None
    if row is None:
        raise BackupError(f"{what} is not a WebMagic database (it has no schema revision)")
    return str(row[0])


def _check(connection: sqlite3.Connection, what: Path) -> str:
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{what} is not a readable SQLite database ({error})") from None
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"{what} failed SQLite's integrity check: {verdict[0] if verdict else 'no answer'}")
    return _revision(connection, what)


def _copy(source: sqlite3.Connection, target: sqlite3.Connection, progress: ProgressCallback | None) -> None:
    def report(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    source.backup(target, pages=PAGES_PER_STEP, progress=report, sleep=0.005)


def _sync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def backup_sqlite(
    database_file: Path, target: Path, *, overwrite: bool = False, progress: ProgressCallback | None = None
) -> BackupReport:
    """Copy the live database at ``database_file`` to ``target`` (see the module docstring)."""
    target = target.expanduser()
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} already exists (choose another name, or --force to replace it)")
    if target.exists() and target.resolve() == database_file.resolve():
        raise BackupError("the backup cannot replace the database it copies")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    source = _open_existing(database_file, read_only=True)
    try:
        _check_schema_only(source, database_file)
        _private_file(partial)
        copy = sqlite3.connect(partial)
        try:
            _copy(source, copy, progress)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
            revision = _check(copy, target)
        finally:
            copy.close()
        _sync(partial)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    return BackupReport(path=target, size_bytes=target.stat().st_size, revision=revision)


def _check_schema_only(connection: sqlite3.Connection, what: Path) -> None:
    # Cheap on the live database (a full integrity check runs on the copy instead).
    _revision(connection, what)


def restore_sqlite(
    backup: Path,
    database_file: Path,
    *,
    known_revisions: frozenset[str],
    now: dt.datetime,
    progress: ProgressCallback | None = None,
) -> RestoreReport:
    """Put the backup at ``backup`` back into ``database_file`` (see the module docstring)."""
    backup = backup.expanduser()
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    if backup.resolve() == database_file.resolve():
        raise BackupError("the backup is the database itself")
    source = _open_existing(backup, read_only=True)
    try:
        revision = _check(source, backup)
        if revision not in known_revisions:
            raise BackupError(
                f"{backup} is at schema revision {revision}, which this version of WebMagic does not know "
                "(it was made by a newer version): upgrade WebMagic first"
            )
        previous: Path | None = None
        if database_file.exists():
            stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            previous = database_file.with_name(f"{database_file.name}.before-restore-{stamp}")
            if _has_schema(database_file):
                backup_sqlite(database_file, previous)
            else:  # not a WebMagic database (or damaged): keep its bytes as they are
                shutil.copy2(database_file, previous)
                os.chmod(previous, 0o600)
        else:
            if not database_file.parent.is_dir():
                raise BackupError(f"the folder {database_file.parent} does not exist")
            _private_file(database_file)
        target = sqlite3.connect(database_file)
        try:
            _copy(source, target, progress)
            target.execute("PRAGMA journal_mode = WAL")
            _check(target, database_file)
        finally:
            target.close()
    finally:
        source.close()
    return RestoreReport(database=database_file, revision=revision, previous_copy=previous)


def known_revisions() -> frozenset[str]:
    """Every schema revision this version of WebMagic can migrate from or to."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    return frozenset(script.revision for script in scripts.walk_revisions())


def head_revision() -> str | None:
    """The schema revision this version of WebMagic migrates to (``webmagic db upgrade``)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def _has_schema(path: Path) -> bool:
    try:
        connection = _open_existing(path, read_only=True)
    except BackupError:
        return False
    try:
        _revision(connection, path)
    except BackupError:
        return False
    finally:
        connection.close()
    return True


_MAJOR = re.compile(r"(\d+)(?:\.\d+)?")


def postgres_backup_advice(database: Database, pg_dump: str | None = None) -> PostgresAdvice:
    """What to run to back up a PostgreSQL database, and whether this machine's pg_dump can."""
    with database.engine.connect() as connection:
        server_version = str(connection.execute(text("SHOW server_version")).scalar_one())
        connection.rollback()
    major = _MAJOR.match(server_version)
    server_major = int(major.group(1)) if major else 0
    pg_dump = pg_dump or shutil.which("pg_dump")
    dump_version: str | None = None
    dump_major: int | None = None
    if pg_dump:
        try:
            # The path comes from PATH or the caller, never from a request.
            answer = subprocess.run(  # noqa: S603
                [pg_dump, "--version"], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            answer = None
        if answer is not None:
            dump_version = answer.stdout.strip()
            found = re.search(r"(\d+)(?:\.\d+)", dump_version)
            dump_major = int(found.group(1)) if found else None
    url = database.engine.url
    parts = ["pg_dump", "--format=custom", "--no-owner", "--file=webmagic-$(date -u +%Y%m%dT%H%M%SZ).dump"]
    if url.host:
        parts.append(f"--host={url.host}")
    if url.port:
        parts.append(f"--port={url.port}")
    if url.username:
        parts.append(f"--username={url.username}")
    parts.append(str(url.database or ""))
    return PostgresAdvice(
        server_version=server_version,
        server_major=server_major,
        pg_dump_version=dump_version,
        pg_dump_major=dump_major,
        command=" ".join(parts),
    )
