"""``SiteDirectory``: the hosting hot path's one read, without a unit of work.

The head read carries the digest of the stored page the site's status serves (a join on
``rendered_pages``, see ``webmagic_core.pages``), so a conditional request is answered
from the head alone; a page-cache miss reads those bytes by digest (``page_body``, one
primary-key read on the same connections).

Every hosting request asks for a site's head by slug, so that a new version or status
shows on the very next request, in every process sharing the database. Through the unit
of work that read costs a pool checkout, BEGIN, a compiled Core select and ROLLBACK
(~190 µs on SQLite, ~570 µs on a local PostgreSQL, measured); here it is one prepared
statement on a connection kept per thread, in autocommit mode (~8 µs and ~120 µs), and
on SQLite mostly not even that (~3 µs, see below).

Why it still sees every commit at once: no transaction is ever left open. Each statement
runs in its own implicit transaction, which on SQLite in WAL mode reads the latest
committed snapshot and on PostgreSQL (READ COMMITTED) the latest committed rows. On
SQLite, ``PRAGMA data_version`` says whether any other connection (of any process) has
committed since this one last asked; while it has not, the heads this thread already
read are answered again without a query. PostgreSQL has no such cheap check; there the
heads are kept in memory and forgotten when the database announces a change
(``LISTEN``/``NOTIFY``, see ``head_cache``), so a lookup is a round trip only the first
time, after a change, or while the announcements cannot be trusted.

The connections come from the engine's own pool and are detached from it, so they are
made exactly as the engine makes them (URL, connect arguments, the SQLite pragmas of
``database.py``); on SQLite they are additionally ``PRAGMA query_only``. An in-memory
SQLite database lives on one shared connection, which is not ours to detach: there the
directory reads through the engine (slower, correct; only tests and demos use it).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, bindparam, pool, select

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.errors import describe, translating_errors
from webmagic_adapters.sqlalchemy.head_cache import HeadCache
from webmagic_core.errors import TransientError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.ports import SiteHead

_BODY_BY_DIGEST = select(t.blobs.c.data).where(t.blobs.c.digest == bindparam("digest"))
# PostgreSQL: every head, loaded in the background by pages of this many (keyset by slug),
# so that the first request for a site is rarely a round trip (see ``_fill_heads``); few,
# as a page is held whole in memory while its heads are packed.
FILL_BATCH = 2_000


def _heads_after(limit: int) -> Any:
    return (
        select(*t.HEAD_COLUMNS)
        .select_from(*t.HEAD_BY_SLUG.get_final_froms())
        .where(t.sites.c.slug > bindparam("after"))
        .order_by(t.sites.c.slug)
        .limit(limit)
    )


Row = tuple[Any, ...]
T = TypeVar("T")

logger = logging.getLogger(__name__)

# Heads read since the last commit seen are kept per connection (SQLite only); past this
# many (far more sites than one process hosts) the lot is dropped and refilled.
MAX_CACHED_HEADS = 20_000
# Readers at once: on SQLite hosting reads on the event loop (one connection); on
# PostgreSQL from worker threads, which must not each hold a server connection.
MAX_CONNECTIONS = 8
CHECKOUT_TIMEOUT_S = 30.0


class _Reader:
    """One autocommit connection and, on SQLite, what it read since the last commit seen."""

    __slots__ = ("connection", "data_version", "generation", "heads")

    def __init__(self, connection: Any, generation: int) -> None:
        self.connection = connection
        self.generation = generation
        self.data_version: int | None = None
        self.heads: dict[str, SiteHead] = {}


class SqlSiteDirectory:
    """Reads on a few autocommit DBAPI connections of its own, opened on demand (at most
    ``max_connections``, reused most-recent first); ``close()`` releases them."""

    def __init__(
        self, engine: Engine, *, max_connections: int = MAX_CONNECTIONS, cache_heads: bool = True
    ) -> None:
        self._engine = engine
        dialect = engine.dialect
        compiled = t.HEAD_BY_SLUG.compile(dialect=dialect)
        self._sql = str(compiled)
        self._positional = compiled.positional
        body = _BODY_BY_DIGEST.compile(dialect=dialect)
        self._body_sql = str(body)
        self._body_positional = body.positional
        self._sqlite = dialect.name == "sqlite"
        # Only a ``StaticPool`` (in-memory SQLite) shares one connection among all users.
        self._shared = isinstance(engine.pool, pool.StaticPool)
        self._dbapi: Any = dialect.loaded_dbapi
        # The columns' own result conversions (on SQLite the id is stored as hex text).
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in t.HEAD_COLUMNS
        ]
        self._convert_id: Callable[[Any], Any] | None = processors[0]
        assert not any(processors[1:]), "only the id column needs converting"
        self._max_connections = max_connections
        self._idle: list[_Reader] = []
        self._opened = 0  # idle and checked out
        self._waiting = 0  # threads in _checkout_waiting
        self._generation = 0  # bumped by close(): readers out at that moment are closed on return
        self._available = threading.Condition(threading.Lock())
        # PostgreSQL: heads in memory, forgotten on the database's notifications (see
        # head_cache); SQLite has its cheap ``data_version`` check instead.
        self._heads: HeadCache | None = None
        if cache_heads and not self._sqlite and not self._shared:
            self._heads = HeadCache(self._connect_listener)
        self._fill_batch = FILL_BATCH
        fill = _heads_after(FILL_BATCH).compile(dialect=dialect)
        self._fill_sql = str(fill)
        self._fill_params: Callable[[str], Any] = lambda after: fill.construct_params({"after": after})
        self._filled_generation = 0  # the head cache's generation last filled (0: none)
        self._filling = threading.Lock()

    def _params(self, slug: str) -> tuple[str] | dict[str, str]:
        return (slug,) if self._positional else {"slug": slug}

    def _head(self, rows: list[Row]) -> SiteHead | None:
        if not rows:
            return None
        row = rows[0]
        site_id = row[0]
        page_digest, page_key = row[5:7] if len(row) > 5 else (None, "")
        return SiteHead(
            id=self._convert_id(site_id) if self._convert_id is not None else site_id,
            slug=row[1],
            business_name=row[2],
            status=SiteStatus(row[3]),
            current_version=row[4],
            page_digest=page_digest,
            # A few settings keys for every site: one string each, not one per head.
            page_key=sys.intern(page_key) if page_key else "",
        )

    def head_by_slug(self, slug: str) -> SiteHead | None:
        if self._shared:
            return self._head(self._read_shared(self._sql, self._params(slug)))
        heads = self._heads
        if heads is None:
            return self._read(self._lookup, slug)
        if heads.ensure():
            if heads.generation != self._filled_generation:
                self._start_fill(heads)
            head = heads.lookup(slug)
            if head is not None:
                return head
        epoch = heads.epoch
        head = self._read(self._lookup, slug)
        if head is not None:  # unknown slugs are not kept: anyone can make up many
            heads.store(slug, head, epoch)
        return head

    def _start_fill(self, heads: HeadCache) -> None:
        """Load every head in a thread of its own, once per connection of the head cache
        (it forgets them all when its connection is lost). ~200 bytes a head in memory
        (packed, see head_cache): ~20 MB for 100,000 sites, bounded by ``max_heads``."""
        if not self._filling.acquire(blocking=False):
            return  # one at a time
        self._filled_generation = heads.generation
        try:
            threading.Thread(
                target=self._fill_heads, args=(heads,), name="webmagic-heads", daemon=True
            ).start()
        except BaseException:
            self._filling.release()
            raise

    def _fill_heads(self, heads: HeadCache) -> None:
        connection: Any = None
        try:
            generation = heads.begin_fill()
            # A connection of its own: the readers' are busy with requests' misses at
            # start-up, and a page of heads queued behind them would come late.
            connection = self._connect() if generation is not None else None
            after = ""
            while generation is not None:
                rows = connection.execute(self._fill_sql, self._fill_params(after)).fetchall()
                batch = [head for row in rows if (head := self._head([row])) is not None]
                # ensure(): changes this process committed meanwhile are heard first.
                if not batch or not heads.ensure() or not heads.store_many(batch, generation):
                    break
                after = batch[-1].slug
                if len(batch) < self._fill_batch:
                    break
        except Exception as error:  # the next connection of the head cache tries again
            logger.info("site heads not loaded ahead: %s", error)
        finally:
            if connection is not None:
                _close_quietly(connection)
            heads.end_fill()
            self._filling.release()

    def cached_head(self, slug: str) -> SiteHead | None:
        """The head of ``slug`` if it can be answered now without waiting on the database
        (PostgreSQL's in-memory heads; None: ask ``head_by_slug``)."""
        heads = self._heads
        return heads.lookup(slug) if heads is not None else None

    def page_body(self, digest: str) -> bytes | None:
        params = (digest,) if self._body_positional else {"digest": digest}
        if self._shared:
            rows = self._read_shared(self._body_sql, params)
        else:
            rows = self._read(self._fetch_body, params)
        return bytes(rows[0][0]) if rows else None

    def _fetch_body(self, reader: _Reader, params: Any) -> list[Row]:
        if self._sqlite:
            rows: list[Row] = reader.connection.execute(self._body_sql, params).fetchall()
        else:
            rows = reader.connection.execute(self._body_sql, params, prepare=True).fetchall()
        return rows

    def _read(self, lookup: Callable[[_Reader, Any], T], argument: Any) -> T:
        try:
            return self._read_once(lookup, argument)
        except self._dbapi.Error as error:
            if not self._is_connection_fault(error):
                raise
            # A restarted server or a dropped network broke the idle connections too:
            # drop them all and try once more on a fresh one.
            self.close()
        try:
            return self._read_once(lookup, argument)
        except self._dbapi.Error as error:
            if self._is_connection_fault(error):
                raise TransientError(
                    f"the database is unavailable or busy, try again ({describe(error)})"
                ) from error
            raise

    def _read_once(self, lookup: Callable[[_Reader, Any], T], argument: Any) -> T:
        reader = self._checkout()
        try:
            found = lookup(reader, argument)
        except BaseException:
            self._checkin(reader, broken=True)
            raise
        self._checkin(reader)
        return found

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
        if version != reader.data_version:
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

    def _read_shared(self, sql: str, params: Any) -> list[Row]:
        with translating_errors(), self._engine.connect() as connection:
            rows = [tuple(row) for row in connection.exec_driver_sql(sql, params)]
            connection.rollback()
        return rows

    # The pool of readers. The common case -- an idle reader is there, and goes back --
    # takes no lock: list.pop() and list.append() are atomic in CPython, and a lock would
    # double the cost of the SQLite lookup's bookkeeping. Everything else (opening,
    # retiring, waiting for a reader when ``max_connections`` are out) holds the lock.
    # No wake-up is lost: a waiter counts itself in ``_waiting`` before it looks at
    # ``_idle``, and a returning reader is appended before ``_waiting`` is read.

    def _checkout(self) -> _Reader:
        while True:
            try:
                reader = self._idle.pop()
            except IndexError:
                return self._checkout_waiting()
            if reader.generation == self._generation:
                return reader
            self._retire(reader)  # out when close() ran

    def _checkout_waiting(self) -> _Reader:
        deadline = time.monotonic() + CHECKOUT_TIMEOUT_S
        stale: list[_Reader] = []
        try:
            with self._available:
                self._waiting += 1
                try:
                    while True:
                        while self._idle:
                            reader = self._idle.pop()
                            if reader.generation == self._generation:
                                return reader
                            self._opened -= 1
                            stale.append(reader)
                        if self._opened < self._max_connections:
                            self._opened += 1
                            generation = self._generation
                            break
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or not self._available.wait(remaining):
                            raise TransientError(
                                "the database is busy (no free connection to look up sites), try again"
                            )
                finally:
                    self._waiting -= 1
        finally:
            for reader in stale:
                _close_quietly(reader.connection)
        try:
            return _Reader(self._connect(), generation)
        except BaseException:
            with self._available:
                self._opened -= 1
                self._available.notify()
            raise

    def _checkin(self, reader: _Reader, *, broken: bool = False) -> None:
        if broken or reader.generation != self._generation:
            self._retire(reader)
            return
        self._idle.append(reader)
        if self._waiting:
            with self._available:
                self._available.notify()

    def _retire(self, reader: _Reader) -> None:
        with self._available:
            self._opened -= 1
            self._available.notify()
        _close_quietly(reader.connection)

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
        return connection

    def _connect_listener(self) -> Any:
        connection = self._connect()
        connection.autocommit = True
        return connection

    def close(self) -> None:
        """Close the idle connections now and the busy ones when they come back; a later
        read opens new ones."""
        if self._heads is not None:
            self._heads.close()
        idle: list[_Reader] = []
        with self._available:
            self._generation += 1
            while self._idle:  # popped one by one: a reader coming back meanwhile stays
                idle.append(self._idle.pop())  # in the list, as stale, retired at checkout
            self._opened -= len(idle)
            self._available.notify_all()
        for reader in idle:
            _close_quietly(reader.connection)

    @property
    def open_connections(self) -> int:
        """Connections open now, idle or in use."""
        with self._available:
            return self._opened


def _close_quietly(connection: Any) -> None:
    # Closing a broken connection may fail; it is gone either way.
    with contextlib.suppress(Exception):
        connection.close()
