"""The database: one engine per process, units of work, migrations, health.

SQLite (the default, one machine) runs in WAL mode with foreign keys on. SQLAlchemy
takes over BEGIN from the ``sqlite3`` module (the documented pysqlite recipe), so
transactions start at the first statement, reads are repeatable (up to a unit of work's
first write, see below), and savepoints work.
Units of work begin DEFERRED (readers never wait for writers); before its first write or
``for_update`` read a unit of work holds the write lock (BEGIN IMMEDIATE, the SQLite
stand-in for a row lock), so a second writer waits (``busy_timeout``) rather than failing
with SQLITE_BUSY when it upgrades a read snapshot another writer has made stale: see
``repositories.begin_for_write``. Writers of one process wait for each other on a
Python lock rather than in SQLite's sleeping busy handler (``repositories.WriteGate``).

PostgreSQL is reached through psycopg 3 whatever the URL spells (``postgres://``,
``postgresql://``); ``for_update`` reads are ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, pool, text, update
from sqlalchemy import exc as sa_exc

from webmagic_adapters.body_cipher import BodyCipher
from webmagic_adapters.keys import Keyring
from webmagic_adapters.private_files import private_dir, private_sqlite_file
from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.rendered_pages import render_banners
from webmagic_adapters.sqlalchemy.repositories import SQLITE_BEGIN_OPTION, SQLITE_TRANSACTION_INFO
from webmagic_adapters.sqlalchemy.uow import SqlAlchemyUnitOfWork
from webmagic_core.commit_hooks import Doorbell
from webmagic_core.ports import PreviewBanner

UoW = TypeVar("UoW", bound=SqlAlchemyUnitOfWork)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
# How long /readyz waits for the write lock before saying "not ready".
READY_WRITE_TIMEOUT_S = 2.0
POSTGRES_CONNECT_TIMEOUT_S = 10


class DatabaseUrlError(ValueError):
    """The database URL cannot be used; the message never repeats a password."""


# What says a database URL is unusable: ours, and SQLAlchemy's own (whose messages never
# repeat the URL or its password).
BAD_DATABASE_URL: tuple[type[Exception], ...] = (DatabaseUrlError, sa_exc.ArgumentError)


def sqlite_file_problem(url: str, *, create: bool) -> str | None:
    """Why a command must not open the SQLite database ``url`` names, or None.

    A mistyped path must not quietly become a new empty database that the server then
    serves (no sites, no customers): the folder must exist, and a missing file is only
    created when asked (``webmagic db upgrade --create``)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite" or _is_memory(parsed):
        return None
    path = Path(parsed.database or "").expanduser()
    if not path.parent.is_dir():
        return f"the folder {path.parent} of the SQLite database does not exist"
    if not create and not path.exists():
        return (
            f"there is no SQLite database at {path}: check the path, or run "
            "`webmagic db upgrade --create` to start a new one there"
        )
    return None


def normalize_url(url: str) -> URL:
    """Parse ``url`` and pin the driver: psycopg 3 for PostgreSQL, sqlite3 for SQLite."""
    try:
        parsed = make_url(url.strip())
    except sa_exc.ArgumentError:
        raise DatabaseUrlError(
            "the database URL is not a URL; use sqlite:///path/to/file.db or postgresql://user@host/db"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "psycopg"):
            raise DatabaseUrlError(f"the PostgreSQL driver {driver!r} is not supported; use postgresql://...")
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise DatabaseUrlError(f"the SQLite driver {driver!r} is not supported; use sqlite:///path")
        return parsed.set(drivername="sqlite+pysqlite")
    raise DatabaseUrlError(
        f"unsupported database {backend!r}; use sqlite:///path/to/file.db or postgresql://user@host/db"
    )


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or (url.database or "").startswith("file::memory:")


def _reason(error: BaseException) -> str:
    """The first line of a database error, without its SQL or parameters (never the URL)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(original).__name__}: {text}" if text else type(original).__name__


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from sqlite3 (its legacy mode skips it before SELECTs); see _sqlite_on_begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    # WAL is a property of the file, set once. Switching needs an exclusive lock and
    # SQLite does not call the busy handler for it, so several processes opening a new
    # file at the same moment would fail with "database is locked": retry until the
    # busy timeout instead.
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
        else:
            return


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")
    # What begin_for_write needs to upgrade a read-only DEFERRED transaction safely.
    raw = connection.connection.driver_connection
    connection.info[SQLITE_TRANSACTION_INFO] = (mode, raw.total_changes if raw is not None else 0)


class Database:
    """Owns the engine. Creating one connects to nothing; the pool connects lazily.
    ``keys`` encrypt queued mail at rest (``body_cipher``); a database opened without them
    (the migrations) cannot queue mail."""

    def __init__(self, url: str, *, keys: Keyring | None = None, publishing: bool = False) -> None:
        self._url = normalize_url(url)
        # Static publishing (WEBMAGIC_PUBLISH_DIR): units of work write publish requests,
        # and ring this after a commit that wrote one.
        self.publishing = publishing
        self.publish_doorbell = Doorbell()
        self._cipher = BodyCipher.from_keyring(keys) if keys is not None else BodyCipher(())
        self._engine = self._create_engine(self._url)
        # SQLite: this process's writers queue here for the file's write lock (see
        # repositories.WriteGate); PostgreSQL has row locks and needs none.
        self._write_lock = threading.Lock() if self._url.get_backend_name() == "sqlite" else None

    @staticmethod
    def _create_engine(url: URL) -> Engine:
        if url.get_backend_name() == "sqlite":
            options: dict[str, Any] = {}
            if _is_memory(url):
                # One shared connection, or every checkout would see a different empty database.
                options.update(poolclass=pool.StaticPool, connect_args={"check_same_thread": False})
            else:
                path = Path(url.database or "").expanduser()
                if not path.parent.exists():
                    private_dir(path.parent)
            engine = create_engine(url, **options)
            if not _is_memory(url):
                # Owner-only wherever the URL puts it (the file holds customers and mail),
                # made so just before SQLite opens it: its -wal and -shm files follow suit.
                event.listen(engine, "do_connect", lambda *_: private_sqlite_file(path))
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def in_memory(self) -> bool:
        """A SQLite database in memory: one connection in one process, shared by its threads."""
        return self._url.get_backend_name() == "sqlite" and _is_memory(self._url)

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    @property
    def url_for_display(self) -> str:
        return self._url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Database({self.url_for_display!r})"

    def unit_of_work(self) -> SqlAlchemyUnitOfWork:
        """The core's ``UnitOfWorkFactory``: pass this bound method to the services."""
        return SqlAlchemyUnitOfWork(
            self._engine,
            write_lock=self._write_lock,
            lock_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            cipher=self._cipher,
            publishing=self.publish_doorbell if self.publishing else None,
        )

    def unit_of_work_of(self, kind: type[UoW]) -> UoW:
        """``unit_of_work`` for a subclass adding repositories (custom domains)."""
        return kind(
            self._engine,
            write_lock=self._write_lock,
            lock_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            cipher=self._cipher,
            publishing=self.publish_doorbell if self.publishing else None,
        )

    def ping(self) -> bool:
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
                connection.rollback()
        except (sa_exc.SQLAlchemyError, OSError) as error:
            log.warning("database ping failed: %s", error.__class__.__name__)
            return False
        return True

    def ready(self, *, write_timeout: float = READY_WRITE_TIMEOUT_S) -> bool:
        """Whether the database answers a read *and* takes a committed write within
        ``write_timeout`` seconds: false when it is unreachable, read-only, out of space,
        locked by a writer for longer, or not migrated. Logs why, never the URL."""
        if not self.ping():
            return False
        milliseconds = int(write_timeout * 1000)
        checks = tables.health_checks
        try:
            with self._engine.connect() as connection:
                try:
                    if self.dialect_name == "sqlite":
                        # Not through the process's write gate: a stuck writer must make this
                        # fail after the bound, not wait behind it.
                        connection.exec_driver_sql(f"PRAGMA busy_timeout = {milliseconds}")
                    else:
                        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{milliseconds}ms'")
                        connection.exec_driver_sql(f"SET LOCAL statement_timeout = '{milliseconds}ms'")
                    stamp = dt.datetime.now(dt.UTC)
                    written = connection.execute(
                        update(checks).where(checks.c.id == 1).values(checked_at=stamp)
                    ).rowcount
                    connection.commit()
                finally:
                    if self.dialect_name == "sqlite" and not _is_memory(self._url):
                        connection.invalidate()  # never hand the short busy timeout back to the pool
                    elif self.dialect_name == "sqlite":  # the one shared connection: restore it
                        connection.rollback()
                        connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                        connection.rollback()
        except (sa_exc.SQLAlchemyError, OSError) as error:
            log.warning("database write check failed: %s", _reason(error))
            return False
        if written != 1:
            log.warning("database write check failed: the health_checks row is missing (run the migrations)")
            return False
        return True

    def upgrade(self, revision: str = "head", *, attributes: Mapping[str, Any] | None = None) -> None:
        """Apply the Alembic migrations (``webmagic db upgrade``). Safe to run again, and
        from several processes at once: they queue on a lock and the later ones find
        nothing to do. ``attributes`` are handed to the migrations (revision 0013 takes
        ``preview_banner`` and ``progress``)."""
        self._migrate(command.upgrade, revision, attributes)

    def render_banners(
        self, banner: PreviewBanner, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Render the preview pages whose banner is missing or was rendered under other
        settings (``webmagic db upgrade`` runs it after the migrations); returns how many."""
        with self._engine.begin() as connection:
            return render_banners(connection, banner, progress=progress)

    def downgrade(self, revision: str) -> None:
        """Undo migrations down to ``revision`` (``"base"``: an empty database)."""
        self._migrate(command.downgrade, revision)

    def _migrate(
        self,
        run: Callable[[Config, str], None],
        revision: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        config.attributes.update(attributes or {})
        with self._engine.connect() as connection:
            config.attributes["connection"] = connection
            if self.dialect_name == "sqlite":
                self._migrate_sqlite(connection, lambda: run(config, revision))
                return
            with connection.begin():
                # Serialize concurrent upgrades of the same schema (several app instances).
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key || current_schema()))"),
                    {"key": "webmagic-migrations:"},
                )
                run(config, revision)

    @staticmethod
    def _migrate_sqlite(connection: Connection, run: Callable[[], None]) -> None:
        # Batch migrations copy and drop tables; with foreign keys on, dropping a parent
        # would cascade into its children. The pragma is ignored inside a transaction, so
        # it is switched on the raw connection before BEGIN and checked before COMMIT.
        # BEGIN IMMEDIATE makes concurrent upgrades queue instead of racing.
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with connection.begin():
                before = _revision_of(connection)
                run()
                # A full check reads every row of every table (over a minute with 100,000
                # sites on a busy machine): only when a migration did run.
                changed = _revision_of(connection) != before
                problems = (
                    connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() if changed else []
                )
                if problems:
                    raise RuntimeError(f"the migration left {len(problems)} rows with broken foreign keys")
        finally:
            raw.execute("PRAGMA foreign_keys = ON")

    def current_revision(self) -> str | None:
        """The revision the database is at (None before the first migration)."""
        from alembic.runtime.migration import MigrationContext

        with self._engine.connect() as connection:
            revision: str | None = MigrationContext.configure(connection).get_current_revision()
            connection.rollback()
            return revision

    def dispose(self) -> None:
        self._engine.dispose()


def _revision_of(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    revision: str | None = MigrationContext.configure(connection).get_current_revision()
    return revision
