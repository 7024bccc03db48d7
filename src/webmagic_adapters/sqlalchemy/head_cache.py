"""PostgreSQL: site heads kept in memory, forgotten when the database announces a change.

Revision 0015's triggers send the slug of every site whose head may have changed on the
``webmagic_site_heads`` channel; ``NOTIFY`` is delivered when the writing transaction
commits, to every listening session, in commit order. This cache holds one ``LISTEN``
connection of its own and reads what arrived (a non-blocking read of its socket, a
microsecond or two) before every lookup, so a head changed by any process is forgotten
before the next request here that looks it up -- as soon as the notification has
reached this process.

When it trusts itself (``usable``):

- its connection is alive and answered a probe (a ``pg_notify`` it sends to itself and
  waits to hear back) less than ``TRUST_S`` ago: probes go out every ``PROBE_S`` while
  requests come in, so a connection lost without a word (a dropped network) costs at
  most ``TRUST_S`` of staleness, never more;
- nothing was committed by this process (through any engine) since the last probe came
  back: otherwise one probe is sent and waited for (one round trip), and because
  notifications arrive in commit order, hearing it back means every change committed
  before it has been heard too. A change made in this process is seen here at once.

Otherwise (no connection, a reconnection -- changes may have been missed, so everything
is dropped --, a probe overdue) callers read the database as if there were no cache.
The remaining window: a change committed by another process becomes visible here when
its notification arrives, normally within a millisecond of the commit, i.e. before the
writer has even answered its own client.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import struct
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from psycopg import pq
from sqlalchemy import Engine, event
from sqlalchemy.pool import Pool

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.ports import SiteHead

CHANNEL = "webmagic_site_heads"
PROBE_S = 2.0
TRUST_S = 10.0
SYNC_TIMEOUT_S = 2.0
RECONNECT_S = 1.0
# Far more than one process hosts on a small machine (~300 bytes each); past it, all are
# dropped and read again.
MAX_HEADS = 150_000

_PROBE_PREFIX = "probe:"
_DONE = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


# A head as kept: one bytes object -- id (16 bytes), status (1: its index in
# ``_STATUSES``), version (4), page key (1: its index in ``_KEYS``, the few settings keys
# pages are rendered with), page digest (32, or none), then the business name (UTF-8).
# ~200 bytes a head with its slug and dict entry, against ~540 as a ``SiteHead`` (measured
# with tracemalloc): 100,000 heads fit in ~20 MB, and one process keeps them all (see
# site_directory). Made back into a ``SiteHead`` per lookup (a few µs).
Packed = bytes
_STATUSES = list(SiteStatus)
_STATUS_INDEX = {status: index for index, status in enumerate(_STATUSES)}
_KEYS: list[str] = [""]
_KEY_INDEX: dict[str, int] = {"": 0}
_HEAD = struct.Struct(">16sBIB")
_DIGEST_BYTES = 32


_KEYS_LOCK = threading.Lock()


def _key_index(key: str) -> int | None:
    index = _KEY_INDEX.get(key)
    if index is None:
        with _KEYS_LOCK:  # caches of several engines may add one at once
            index = _KEY_INDEX.get(key)
            if index is None and len(_KEYS) < 256:
                _KEYS.append(key)
                index = _KEY_INDEX[key] = len(_KEYS) - 1
    return index


def _pack(head: SiteHead) -> Packed | SiteHead:
    """The head as kept; as it is when it does not fit (a 256th settings key...)."""
    key = _key_index(head.page_key)
    if key is None or head.current_version >= 2**32:
        return head
    fixed = _HEAD.pack(head.id.bytes, _STATUS_INDEX[head.status], head.current_version, key)
    try:
        digest = b"" if head.page_digest is None else bytes.fromhex(head.page_digest)
    except ValueError:  # not hex: kept as it is
        return head
    if len(digest) not in (0, _DIGEST_BYTES) or (digest and digest.hex() != head.page_digest):
        return head  # only what reads back the same is packed (a digest is lowercase)
    flag = b"\x01" if digest else b"\x00"
    return fixed + flag + digest + head.business_name.encode()


def _unpack(slug: str, packed: Packed | SiteHead) -> SiteHead:
    if isinstance(packed, SiteHead):
        return packed
    raw_id, status, version, key = _HEAD.unpack_from(packed)
    at = _HEAD.size + 1
    digest = None
    if packed[_HEAD.size]:
        digest = packed[at : at + _DIGEST_BYTES].hex()
        at += _DIGEST_BYTES
    return SiteHead(
        id=uuid.UUID(bytes=raw_id),
        slug=slug,
        business_name=packed[at:].decode(),
        status=_STATUSES[status],
        current_version=version,
        page_digest=digest,
        page_key=_KEYS[key],
    )


class HeadCache:
    """Heads by slug, valid while the listening connection hears every change.

    ``connect`` opens an autocommit psycopg connection (blocking). Thread-safe: the
    event loop asks ``lookup`` (never blocks), worker threads ``ensure`` (may wait on a
    round trip) then ``lookup``/``store``.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        max_heads: int = MAX_HEADS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._max_heads = max_heads
        self._clock = clock
        self._heads: dict[str, Packed | SiteHead] = {}
        self._lock = threading.Lock()
        self._connection: Any = None
        self._next_connect = 0.0
        self._tokens = itertools.count(1)
        self._prefix = f"{_PROBE_PREFIX}{os.getpid()}:{id(self)}:"
        self._query_out = False  # a probe's query not finished yet
        self._probe_out: str | None = None  # sent, not heard back yet
        self._probe_sent_at = 0.0
        self._confirmed_at: float | None = None  # when a probe last came back
        self._commit_lock = threading.Lock()
        self._local_commits = 0
        self._synced_commits = 0
        # Bumped whenever a head is forgotten: a read that started before must not be kept.
        self.epoch = 0
        # Bumped when the connection is opened or lost (every head forgotten).
        self.generation = 0
        # While heads are loaded in bulk (``begin_fill``): the slugs announced since.
        self._announced: set[str] | None = None
        _watch_local_commits()
        _CACHES.add(self)

    # -- called on every lookup ---------------------------------------------------------

    def lookup(self, slug: str) -> SiteHead | None:
        """The cached head of ``slug``, or None (not cached, or the cache cannot be trusted
        right now without waiting: ask the database)."""
        # Never waits for the lock: a thread holding it may be waiting on a round trip.
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if not self._pump_usable():
                return None
            packed = self._heads.get(slug)
        finally:
            self._lock.release()
        return None if packed is None else _unpack(slug, packed)

    def store(self, slug: str, head: SiteHead, epoch: int) -> None:
        """Keep ``head``, read after ``epoch`` was current, unless a change came since."""
        with self._lock:
            if not self._pump_usable() or epoch != self.epoch:
                return
            if len(self._heads) >= self._max_heads:
                self._heads.clear()
            self._heads[slug] = _pack(head)

    def begin_fill(self) -> int | None:
        """Start loading heads in bulk (``store_many``): the generation to pass along, or
        None when the cache cannot be trusted now. From here on the slugs announced are
        noted, so that a head read before its change is not kept."""
        with self._lock:
            if not self._pump_usable():
                return None
            self._announced = set()
            return self.generation

    def store_many(self, heads: list[SiteHead], generation: int) -> bool:
        """Keep the heads read since ``begin_fill`` (not those announced since, nor those
        already here: read later); False when the fill must stop (the connection was lost,
        changes are unheard, or the cache is full)."""
        packed = [(head.slug, _pack(head)) for head in heads]  # before the lock: lookups skip it
        with self._lock:
            announced = self._announced
            if announced is None or generation != self.generation or not self._pump_usable():
                return False
            cached = self._heads
            room = self._max_heads - len(cached)
            for slug, head in packed:
                if room <= 0:
                    return False
                if slug not in announced and slug not in cached:
                    cached[slug] = head
                    room -= 1
            return True

    def end_fill(self) -> None:
        with self._lock:
            self._announced = None

    def ensure(self) -> bool:
        """Connect and catch up if needed (may block a round trip); whether the cache can
        be used now."""
        with self._lock:
            if self._pump_usable():
                return True
            if self._connection is None:
                if self._clock() < self._next_connect:
                    return False
                self._open()
                if self._connection is None:
                    return False
            return self._sync()

    def note_local_commit(self) -> None:
        """Something was committed through this process's engine: hear everything
        committed so far before trusting the cache again."""
        # Not under the main lock: a sync may hold it for a round trip.
        with self._commit_lock:
            self._local_commits += 1

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def __len__(self) -> int:
        return len(self._heads)

    # -- under the lock ------------------------------------------------------------------

    def _pump_usable(self) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            self._pump(connection)
            now = self._clock()
            if not self._query_out and self._probe_out is None and now - self._probe_sent_at >= PROBE_S:
                self._send_probe(connection)
        except Exception:
            self._drop_connection()
            return False
        confirmed = self._confirmed_at
        return (
            confirmed is not None
            and self._clock() - confirmed < TRUST_S
            and self._synced_commits == self._local_commits
        )

    def _pump(self, connection: Any) -> None:
        """Read what the socket holds (never waits): query results, notifications."""
        pgconn = connection.pgconn
        pgconn.consume_input()  # raises when the connection is gone
        while self._query_out and not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:  # the probe's query is done: the connection takes another
                self._query_out = False
            elif result.status not in _DONE:
                raise ConnectionError("probe failed")
        heads = self._heads
        while (notice := pgconn.notifies()) is not None:
            payload = notice.extra.decode()
            if payload.startswith(_PROBE_PREFIX):
                if payload == self._probe_out:
                    self._probe_out = None
                    self._confirmed_at = self._probe_sent_at
                continue
            heads.pop(payload, None)
            self.epoch += 1
            if self._announced is not None:
                self._announced.add(payload)

    def _send_probe(self, connection: Any) -> None:
        token = f"{self._prefix}{next(self._tokens)}"
        pgconn = connection.pgconn
        pgconn.send_query_params(b"SELECT pg_notify($1, $2)", [CHANNEL.encode(), token.encode()])
        while pgconn.flush():
            select.select([], [pgconn.socket], [], SYNC_TIMEOUT_S)
        self._query_out = True
        self._probe_out = token
        self._probe_sent_at = self._clock()

    def _sync(self) -> bool:
        """Send a probe and wait until it comes back (every earlier commit heard)."""
        connection = self._connection
        commits = self._local_commits
        try:
            deadline = time.monotonic() + SYNC_TIMEOUT_S
            while self._query_out:  # one query at a time on a connection
                self._wait(connection, deadline)
            # Always a fresh probe: one sent before the commit proves nothing about it.
            self._send_probe(connection)
            while self._probe_out is not None:
                self._wait(connection, deadline)
        except Exception:
            self._drop_connection()
            return False
        self._synced_commits = commits
        return self._synced_commits == self._local_commits

    def _wait(self, connection: Any, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer to the probe")
        select.select([connection.pgconn.socket], [], [], remaining)
        self._pump(connection)

    def _open(self) -> None:
        self._next_connect = self._clock() + RECONNECT_S
        try:
            connection = self._connect()
            connection.execute(f"LISTEN {CHANNEL}")
        except Exception:
            return
        # Changes made while nobody listened were not heard: start from nothing.
        self._heads.clear()
        self.epoch += 1
        self.generation += 1
        self._connection = connection
        self._query_out = False
        self._probe_out = None
        self._probe_sent_at = 0.0
        self._confirmed_at = None

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._heads.clear()
        self.epoch += 1
        self.generation += 1
        self._query_out = False
        self._probe_out = None
        self._confirmed_at = None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


_CACHES: weakref.WeakSet[HeadCache] = weakref.WeakSet()
_COMMITTED = "webmagic_committed"
_watching = False
_watching_lock = threading.Lock()


def _note_local_commit() -> None:
    for cache in list(_CACHES):
        cache.note_local_commit()


def _committing(connection: Any) -> None:
    connection.info[_COMMITTED] = True
    _note_local_commit()


def _checked_in(dbapi_connection: Any, record: Any) -> None:
    if record is not None and record.info.pop(_COMMITTED, False):
        _note_local_commit()


def _watch_local_commits() -> None:
    """Every engine's commits, noted when they start and again when their connection goes
    back to the pool (committed by then): a lookup after either catches up first."""
    global _watching
    with _watching_lock:
        if not _watching:
            event.listen(Engine, "commit", _committing)
            event.listen(Pool, "checkin", _checked_in)
            _watching = True
