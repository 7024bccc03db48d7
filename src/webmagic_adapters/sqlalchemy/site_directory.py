"""``SiteDirectory``: the hosting hot path's one read, without a unit of work.

Every hosting request asks for a site's head by slug, so that a new version or status
shows on the very next request, in every process sharing the database. Through the unit
of work that read costs a pool checkout, BEGIN, a compiled Core select and ROLLBACK
(~190 µs on SQLite, ~570 µs on a local PostgreSQL, measured); here it is one prepared
statement on a connection kept per thread, in autocommit mode (~6 µs and ~120 µs).

Why it still sees every commit at once: no transaction is ever left open. Each SELECT
runs in its own implicit transaction, which on SQLite in WAL mode reads the latest
committed snapshot and on PostgreSQL (READ COMMITTED) the latest committed rows. Nothing
is cached but connections and the prepared statement.

The connections come from the engine's own pool and are detached from it, so they are
made exactly as the engine makes them (URL, connect arguments, the SQLite pragmas of
``database.py``); on SQLite they are additionally ``PRAGMA query_only``. An in-memory
SQLite database lives on one shared connection, which is not ours to detach: there the
directory reads through the engine (slower, correct; only tests and demos use it).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, bindparam, pool, select

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.errors import describe, translating_errors
from webmagic_core.errors import TransientError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.ports import SiteHead

_HEAD_COLUMNS = (
    t.sites.c.id,
    t.sites.c.slug,
    t.sites.c.business_name,
    t.sites.c.status,
    t.sites.c.current_version,
)
_HEAD_BY_SLUG = select(*_HEAD_COLUMNS).where(t.sites.c.slug == bindparam("slug"))

Row = tuple[Any, ...]

# On SQLite, heads read since the last commit seen are kept per thread; past this many
# (far more sites than one process hosts) the lot is dropped and refilled.
MAX_CACHED_HEADS = 20_000


class _Reader(threading.local):
    """One thread's connection and, on SQLite, what it read since the last commit seen."""

    def __init__(self) -> None:
        self.connection: Any = None
        self.generation = -1
        self.data_version: int | None = None
        self.heads: dict[str, SiteHead] = {}


class SqlSiteDirectory:
    """One autocommit DBAPI connection per thread that asks; ``close()`` releases them all."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect
        compiled = _HEAD_BY_SLUG.compile(dialect=dialect)
        self._sql = str(compiled)
        self._positional = compiled.positional
        self._sqlite = dialect.name == "sqlite"
        # Only a ``StaticPool`` (in-memory SQLite) shares one connection among all users.
        self._shared = isinstance(engine.pool, pool.StaticPool)
        self._dbapi: Any = dialect.loaded_dbapi
        # The columns' own result conversions (on SQLite the id is stored as hex text).
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in _HEAD_COLUMNS
        ]
        self._convert_id: Callable[[Any], Any] | None = processors[0]
        assert not any(processors[1:]), "only the id column needs converting"
        self._reader = _Reader()
        self._lock = threading.Lock()
        self._generation = 0  # bumped by close(): threads' cached connections are then stale
        self._open: list[tuple[weakref.ref[threading.Thread], Any]] = []

    def _params(self, slug: str) -> tuple[str] | dict[str, str]:
        return (slug,) if self._positional else {"slug": slug}

    def _head(self, rows: list[Row]) -> SiteHead | None:
        if not rows:
            return None
        site_id, slug, business_name, status, current_version = rows[0]
        return SiteHead(
            id=self._convert_id(site_id) if self._convert_id is not None else site_id,
            slug=slug,
            business_name=business_name,
            status=SiteStatus(status),
            current_version=current_version,
        )

    def head_by_slug(self, slug: str) -> SiteHead | None:
        if self._shared:
            return self._head(self._read_shared(slug))
        try:
            return self._lookup(self._connected(), slug)
        except self._dbapi.Error as error:
            self._discard()
            if not self._is_connection_fault(error):
                raise
        # The connection broke (a restarted server, a dropped socket): one fresh try.
        try:
            return self._lookup(self._connected(), slug)
        except self._dbapi.Error as error:
            self._discard()
            if self._is_connection_fault(error):
                raise TransientError(
                    f"the database is unavailable or busy, try again ({describe(error)})"
                ) from error
            raise

    def _lookup(self, reader: _Reader, slug: str) -> SiteHead | None:
        connection = reader.connection
        if not self._sqlite:
            return self._head(connection.execute(self._sql, self._params(slug), prepare=True).fetchall())
        # SQLite tells a connection whether anyone else (any connection, any process) has
        # committed since it last asked: ``data_version``. This connection never writes, so
        # an unchanged value means an unchanged database, and the heads read since can be
        # reused; the check costs half the query it saves. fetchall() runs each statement
        # to completion, so sqlite3 resets it and no read transaction (an old snapshot)
        # stays open between requests.
        [(version,)] = connection.execute("PRAGMA data_version").fetchall()
        heads = reader.heads
        if reader.data_version is None:
            heads.clear()
            reader.data_version = version
        else:
            head = heads.get(slug)
            if head is not None:
                return head
        head = self._head(connection.execute(self._sql, (slug,)).fetchall())
        if head is not None:  # unknown slugs are not kept: anyone can make up many
            if len(heads) >= MAX_CACHED_HEADS:
                heads.clear()
            heads[slug] = head
        return head

    def _is_connection_fault(self, error: BaseException) -> bool:
        return isinstance(error, self._dbapi.OperationalError | self._dbapi.InterfaceError)

    def _read_shared(self, slug: str) -> list[Row]:
        with translating_errors(), self._engine.connect() as connection:
            rows = [tuple(row) for row in connection.exec_driver_sql(self._sql, self._params(slug))]
            connection.rollback()
        return rows

    def _connected(self) -> _Reader:
        reader = self._reader
        if reader.connection is None or reader.generation != self._generation:
            reader.connection = self._connect()
            reader.generation = self._generation
            reader.data_version = None
            reader.heads.clear()
        return reader

    def _connect(self) -> Any:
        with translating_errors():
            proxied = self._engine.raw_connection()
        connection = proxied.driver_connection
        assert connection is not None, "a checked-out connection has a driver connection"
        proxied.detach()  # ours now: the pool neither reuses nor resets it
        try:
            if self._sqlite:
                connection.isolation_level = None  # no implicit BEGIN: autocommit reads
                connection.execute("PRAGMA query_only = ON")
            else:
                connection.rollback()  # whatever the dialect's first-connect checks began
                connection.autocommit = True
        except BaseException:
            connection.close()
            raise
        thread = threading.current_thread()
        with self._lock:
            # Threads come and go (pool workers retire when idle): close what they left.
            alive = []
            for owner, held in self._open:
                owner_thread = owner()
                if owner_thread is not None and owner_thread.is_alive():
                    alive.append((owner, held))
                else:
                    _close_quietly(held)
            alive.append((weakref.ref(thread), connection))
            self._open = alive
        return connection

    def _discard(self) -> None:
        """Drop this thread's connection (after a fault); the next read opens a new one."""
        reader = self._reader
        connection, reader.connection = reader.connection, None
        reader.heads.clear()
        if connection is None:
            return
        with self._lock:
            self._open = [(owner, held) for owner, held in self._open if held is not connection]
        _close_quietly(connection)

    def close(self) -> None:
        """Close every thread's connection; a later read opens a new one."""
        with self._lock:
            self._generation += 1
            held, self._open = self._open, []
        for _, connection in held:
            _close_quietly(connection)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)


def _close_quietly(connection: Any) -> None:
    # Closing a broken connection may fail; it is gone either way.
    with contextlib.suppress(Exception):
        connection.close()
