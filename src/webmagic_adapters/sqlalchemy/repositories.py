"""Repositories on SQLAlchemy Core: rows in, attrs entities out.

``SqlAlchemyRepository`` holds what every repository shares: running statements on the
unit of work's connection, inserts that report clashes as ``Conflict``, and taking the
write lock before the first write (see ``begin_for_write`` and ``WriteGate``). The
statements a webhook or a page view runs are built once (``Lookup``, ``Insertion``,
``updating``) and given their values at execution. The site repository lives here;
accounts, the outbox and payments have their own modules.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    CursorResult,
    Executable,
    Row,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.errors import is_unique_violation, translating_errors
from webmagic_core.errors import Conflict, TransientError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.pages import PageVariant, RenderedPage, clean_page
from webmagic_core.ports import BlobUsage, SiteHead
from webmagic_core.site_files import VersionFile
from webmagic_core.sites import Actor, Site, SiteEvent, SiteVersion, SiteVersionSummary, VersionCause

# Option read by the SQLite "begin" hook in database.py: which BEGIN to emit.
SQLITE_BEGIN_OPTION = "webmagic_sqlite_begin"
# Set by that hook in ``Connection.info`` at each BEGIN: (mode, total_changes of the
# sqlite3 connection then), so ``begin_for_write`` can tell a read-only transaction.
SQLITE_TRANSACTION_INFO = "webmagic_sqlite_transaction"
# Set by the unit of work in ``Connection.info`` on SQLite: its ``WriteGate``.
SQLITE_WRITE_GATE = "webmagic_sqlite_write_gate"

# Rows of any width (SQLAlchemy 2.1 types rows by their column tuple).
AnyRow = Row[*tuple[Any, ...]]


def begin_for_write(connection: Connection) -> None:
    """Make sure the transaction holds SQLite's write lock before it writes or locks rows.

    SQLite has one writer at a time and no row locks. A transaction that began DEFERRED
    reads from a snapshot; upgrading it to a writer after another connection committed
    fails at once with SQLITE_BUSY_SNAPSHOT (the busy timeout does not apply), so a
    unit of work that reads, then writes (create a site if the slug is free, register if
    the address is new) would fail under concurrent writers. Instead:

    - no transaction yet: BEGIN IMMEDIATE (wait for the write lock, then read);
    - a DEFERRED transaction that has changed nothing: end it and BEGIN IMMEDIATE. The
      reads before that point were a consistent snapshot; what follows sees every
      commit. That is what READ COMMITTED gives on PostgreSQL, which the services are
      written for: a check-then-insert race ends in the unique constraint's
      ``Conflict``, and a read-modify-write that must not lose an update reads
      ``for_update`` (which comes through here first).
    - already IMMEDIATE, or (written outside the repositories) DEFERRED with changes:
      nothing to do, and nothing is ever committed early.

    On PostgreSQL row locks (``FOR UPDATE``) do this job; nothing happens here.
    """
    if connection.dialect.name != "sqlite":
        return
    gate: WriteGate | None = connection.info.get(SQLITE_WRITE_GATE)
    if gate is not None and gate.held:
        return  # this unit of work's BEGIN IMMEDIATE is in force (the common case, and cheap)
    with translating_errors():
        if connection.in_transaction():
            mode, changes_at_begin = connection.info.get(SQLITE_TRANSACTION_INFO, ("IMMEDIATE", 0))
            raw = connection.connection.driver_connection
            if mode == "IMMEDIATE" or raw is None or raw.total_changes != changes_at_begin:
                return
            if connection.in_nested_transaction():
                return  # a savepoint is open: ending the transaction here would break it
            connection.commit()
        if gate is not None:
            gate.acquire()  # before BEGIN IMMEDIATE, holding no lock of SQLite's
        try:
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            connection.begin()
        except BaseException:
            if gate is not None:
                gate.release()
            raise


class WriteGate:
    """One process's queue for SQLite's write lock, held from BEGIN IMMEDIATE until the
    unit of work commits or rolls back (``SqlAlchemyUnitOfWork`` releases it).

    A writer that finds SQLite's lock taken polls for it, sleeping 1, 2, 5, 10 ... 100 ms
    between tries (SQLite's busy handler), so under a burst of writers the lock sits free
    while they sleep: the webhook benchmark kept half a core idle with a p99 near 0.5 s.
    Threads of one process queue on this lock instead and the next one starts the moment
    it is released; only writers in other processes still meet the busy handler.
    ``acquire`` gives up like the busy timeout does, with a ``TransientError``.
    """

    def __init__(self, lock: threading.Lock, timeout: float) -> None:
        self._lock = lock
        self._timeout = timeout
        self.held = False

    def acquire(self) -> None:
        if self.held:
            return
        if not self._lock.acquire(timeout=self._timeout):
            # What SQLITE_BUSY says once the busy timeout has passed (errors.transient_error).
            raise TransientError("the database is unavailable or busy, try again (database is locked)")
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._lock.release()


# Parameters for a statement built once: one mapping, or a list of them (executemany).
Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


class Lookup:
    """A SELECT built once with bind parameters, and its ``FOR UPDATE`` twin.

    Repositories keep their hot statements as module constants and pass the values at
    execution: SQLAlchemy then reuses the statement's cache key and compiled form instead
    of building, coercing and hashing a new statement per call (about 4x less time per
    statement on SQLite, where that overhead is most of the cost).
    """

    def __init__(self, query: Select[*tuple[Any, ...]]) -> None:
        self.plain = query
        self.locked = query.with_for_update()


class Insertion:
    """An INSERT built once (see ``Lookup``), and its PostgreSQL twin ``INSERT ... ON
    CONFLICT DO NOTHING``: there a clash changes nothing and reports no row instead of
    failing, so ``_insert_unique`` needs no savepoint to keep the transaction going (two
    round trips fewer per insert). A clash with a row another transaction is inserting
    still waits for that transaction, as a plain INSERT does."""

    def __init__(self, table: Table) -> None:
        self.plain = insert(table)
        # RETURNING says whether a row went in (rowcount is not reported with RETURNING,
        # which SQLAlchemy adds anyway for an autoincrement key).
        self.skipping_clashes = (
            postgresql.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
        )


def updating(table: Table, key: Column[Any], columns: Iterable[str]) -> Update:
    """``UPDATE table SET column = :column, ... WHERE key = :_key``, built once."""
    return update(table).where(key == bindparam("_key")).values({name: bindparam(name) for name in columns})


def entity_columns(table: Table) -> tuple[Column[Any], ...]:
    """Every column but ``seq``, which only keeps the insertion order (for ties in time)."""
    return tuple(c for c in table.c if c.name != "seq")


class SqlAlchemyRepository:
    """Runs on the connection of the unit of work that owns it (``connection()``)."""

    def __init__(self, connection: Callable[[], Connection]) -> None:
        self._connection = connection

    def _execute(self, statement: Executable, params: Params = None) -> CursorResult[*tuple[Any, ...]]:
        with translating_errors():
            return self._connection().execute(statement, params)

    def _write(self, statement: Executable, params: Params = None) -> CursorResult[*tuple[Any, ...]]:
        self._begin_for_write()
        return self._execute(statement, params)

    def _select(self, query: Select[*tuple[Any, ...]], *, for_update: bool) -> CursorResult[*tuple[Any, ...]]:
        """Run ``query``; ``for_update`` locks the rows it finds until commit (``FOR
        UPDATE`` on PostgreSQL, the write lock on SQLite)."""
        if for_update:
            self._begin_for_write()
            query = query.with_for_update()
        return self._execute(query)

    def _lookup(self, lookup: Lookup, params: Params, *, for_update: bool) -> CursorResult[*tuple[Any, ...]]:
        """``_select`` for a statement built once."""
        if for_update:
            self._begin_for_write()
            return self._execute(lookup.locked, params)
        return self._execute(lookup.plain, params)

    def _newest(
        self, table: Table, time: Column[Any], limit: int, *where: ColumnElement[bool]
    ) -> Sequence[AnyRow]:
        """Up to ``limit`` rows of a table with ``seq``, newest first (``time``, then ``seq``)."""
        if limit <= 0:
            return []
        query = (
            select(*entity_columns(table))
            .where(*where)
            .order_by(time.desc(), table.c.seq.desc())
            .limit(limit)
        )
        return self._execute(query).all()

    def _oldest(self, table: Table, time: Column[Any], *where: ColumnElement[bool]) -> Sequence[AnyRow]:
        """Every row of a table with ``seq``, oldest first (``time``, then ``seq``)."""
        query = select(*entity_columns(table)).where(*where).order_by(time, table.c.seq)
        return self._execute(query).all()

    def _insert_unique(
        self, statement: Insertion | Executable, conflict: str | Callable[[], str], params: Params = None
    ) -> None:
        """Insert so that a clash (a unique or primary key taken) leaves the transaction
        usable, and report the clash as ``Conflict``. ``conflict`` may be a function,
        called after the clash, that says which rule was broken."""
        if isinstance(statement, Insertion):
            if self._connection().dialect.name == "postgresql":
                if self._write(statement.skipping_clashes, params).first() is None:
                    raise Conflict(conflict if isinstance(conflict, str) else conflict())
                return
            statement = statement.plain
        self._write_unique(statement, conflict, params)

    def _write_unique(
        self, statement: Executable, conflict: str | Callable[[], str], params: Params = None
    ) -> int:
        """Run an INSERT or UPDATE like ``_insert_unique``; returns the rows it changed.

        PostgreSQL aborts the whole transaction on an error, so the statement runs inside
        a savepoint there. SQLite undoes only the failing statement and keeps the
        transaction going (its default ``ON CONFLICT ABORT``), so no savepoint is needed:
        two statements fewer per write."""
        self._begin_for_write()
        connection = self._connection()
        with translating_errors():
            try:
                if connection.dialect.name == "sqlite":
                    return connection.execute(statement, params).rowcount
                with connection.begin_nested():
                    return connection.execute(statement, params).rowcount
            except sa_exc.IntegrityError as error:
                if is_unique_violation(error):
                    raise Conflict(conflict if isinstance(conflict, str) else conflict()) from None
                raise

    def _begin_for_write(self) -> None:
        begin_for_write(self._connection())


_SITE_COLUMNS = (
    t.sites.c.id,
    t.sites.c.slug,
    t.sites.c.business_name,
    t.sites.c.status,
    t.sites.c.current_version,
    t.sites.c.created_at,
    t.sites.c.updated_at,
    t.sites.c.owner_id,
    t.sites.c.purchased_at,
)


def _site(row: AnyRow) -> Site:
    return Site(
        id=row.id,
        slug=row.slug,
        business_name=row.business_name,
        status=SiteStatus(row.status),
        current_version=row.current_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        owner_id=row.owner_id,
        purchased_at=row.purchased_at,
    )


def _version(row: AnyRow, files: Sequence[VersionFile]) -> SiteVersion:
    return SiteVersion(
        site_id=row.site_id,
        number=row.number,
        files=tuple(files),
        cause=VersionCause(row.cause),
        created_by=Actor(row.created_by),
        created_at=row.created_at,
        note=row.note,
        edit_id=row.edit_id,
        restored_from=row.restored_from,
    )


def version_file(row: AnyRow) -> VersionFile:
    """A row naming a file's path, digests, size and type (a version's, or a draft's)."""
    return VersionFile(
        path=row.path,
        digest=row.digest,
        size=row.size,
        content_type=row.content_type,
        slug_digest=row.slug_digest,
        root_digest=row.root_digest,
    )


def _event(row: AnyRow) -> SiteEvent:
    return SiteEvent(
        id=row.id,
        site_id=row.site_id,
        from_status=SiteStatus(row.from_status) if row.from_status is not None else None,
        to_status=SiteStatus(row.to_status),
        cause=row.cause,
        actor=Actor(row.actor),
        reference=row.reference,
        occurred_at=row.occurred_at,
    )


_sites, _versions, _events = t.sites, t.site_versions, t.site_events
_files, _blobs = t.site_version_files, t.blobs
_FILE_COLUMNS = tuple(c for c in _files.c if c.name not in ("site_id", "number"))
_INSERT_FILES = insert(_files)
_FILES_OF_VERSION = (
    select(*_FILE_COLUMNS)
    .where(_files.c.site_id == bindparam("site_id"), _files.c.number == bindparam("n"))
    .order_by(_files.c.path)
)
_BODY = select(_blobs.c.data).where(_blobs.c.digest == bindparam("digest"))
_STORED_DIGESTS = select(_blobs.c.digest).where(_blobs.c.digest.in_(bindparam("digests", expanding=True)))
_INSERT_BLOB = {
    "sqlite": sqlite.insert(_blobs).on_conflict_do_nothing(index_elements=["digest"]),
    "postgresql": postgresql.insert(_blobs).on_conflict_do_nothing(index_elements=["digest"]),
}
_drafts = t.edit_draft_files
# A body is kept while a version's file, a rendered page or an edit's draft names it.
_UNREFERENCED = (
    ~select(1)
    .where(
        (_files.c.digest == _blobs.c.digest)
        | (_files.c.slug_digest == _blobs.c.digest)
        | (_files.c.root_digest == _blobs.c.digest)
    )
    .exists()
    & ~select(1)
    .where(
        (_drafts.c.digest == _blobs.c.digest)
        | (_drafts.c.slug_digest == _blobs.c.digest)
        | (_drafts.c.root_digest == _blobs.c.digest)
    )
    .exists()
    & ~select(1).where(t.rendered_pages.c.digest == _blobs.c.digest).exists()
)
_INSERT_SITE = Insertion(_sites)
_UPDATE_SITE = updating(
    _sites,
    _sites.c.id,
    ("slug", "business_name", "status", "current_version", "updated_at", "owner_id", "purchased_at"),
)
_INSERT_EVENTS = insert(_events)
_INSERT_VERSION = Insertion(_versions)
_SITE_BY_ID = Lookup(select(*_SITE_COLUMNS).where(_sites.c.id == bindparam("id")))
_SITE_BY_SLUG = Lookup(select(*_SITE_COLUMNS).where(_sites.c.slug == bindparam("slug")))
_pages = t.rendered_pages
_INSERT_PAGES = insert(_pages)
_PAGES_OF_VERSION = (
    select(_pages.c.variant, _pages.c.digest, _pages.c.render_key)
    .where(_pages.c.site_id == bindparam("site_id"), _pages.c.number == bindparam("n"))
    .order_by(_pages.c.variant)
)
_VERSION = select(_versions).where(
    _versions.c.site_id == bindparam("site_id"), _versions.c.number == bindparam("n")
)
_EVENTS = (
    select(_events)
    .where(_events.c.site_id == bindparam("site_id"))
    .order_by(_events.c.occurred_at, _events.c.seq)
)


def _site_values(site: Site) -> dict[str, Any]:
    return {
        "slug": site.slug,
        "business_name": site.business_name,
        "status": site.status.value,
        "current_version": site.current_version,
        "updated_at": site.updated_at,
        "owner_id": site.owner_id,
        "purchased_at": site.purchased_at,
    }


class SqlAlchemySiteRepository(SqlAlchemyRepository):
    def __init__(
        self,
        connection: Callable[[], Connection],
        *,
        on_events: Callable[[Sequence[SiteEvent]], None] | None = None,
    ) -> None:
        super().__init__(connection)
        # Told of the status changes written (the unit of work logs them once committed).
        self._on_events = on_events

    def add(self, site: Site) -> None:
        self._insert_unique(
            _INSERT_SITE,
            f"the slug {site.slug!r} is already taken",
            {"id": site.id, "created_at": site.created_at, **_site_values(site)},
        )
        self._flush_events(site)

    def save(self, site: Site) -> None:
        result = self._write(_UPDATE_SITE, {"_key": site.id, **_site_values(site)})
        if result.rowcount == 0:
            raise LookupError(f"site {site.id} was never added")
        self._flush_events(site)

    def _flush_events(self, site: Site) -> None:
        if not site.pending_events:
            return
        self._write(
            _INSERT_EVENTS,
            [
                {
                    "id": event.id,
                    "site_id": event.site_id,
                    "from_status": event.from_status.value if event.from_status is not None else None,
                    "to_status": event.to_status.value,
                    "cause": event.cause,
                    "actor": event.actor.value,
                    "reference": event.reference,
                    "occurred_at": event.occurred_at,
                }
                for event in site.pending_events
            ],
        )
        if self._on_events is not None:
            self._on_events(tuple(site.pending_events))
        site.pending_events.clear()

    def get(self, site_id: uuid.UUID, *, for_update: bool = False) -> Site | None:
        row = self._lookup(_SITE_BY_ID, {"id": site_id}, for_update=for_update).first()
        return _site(row) if row is not None else None

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Site | None:
        row = self._lookup(_SITE_BY_SLUG, {"slug": slug}, for_update=for_update).first()
        return _site(row) if row is not None else None

    def head_by_slug(self, slug: str) -> SiteHead | None:
        row = self._execute(t.HEAD_BY_SLUG, {"slug": slug}).first()
        if row is None:
            return None
        return SiteHead(
            id=row.id,
            slug=row.slug,
            business_name=row.business_name,
            status=SiteStatus(row.status),
            current_version=row.current_version,
            page_digest=row.digest,
            page_key=row.render_key or "",
        )

    def list(self, *, status: SiteStatus | None = None, owner_id: uuid.UUID | None = None) -> Sequence[Site]:
        query = select(*_SITE_COLUMNS).order_by(_sites.c.slug)
        if status is not None:
            query = query.where(_sites.c.status == status.value)
        if owner_id is not None:
            query = query.where(_sites.c.owner_id == owner_id)
        return [_site(row) for row in self._execute(query)]

    def count_by_status(self) -> dict[SiteStatus, int]:
        query = select(_sites.c.status, func.count()).group_by(_sites.c.status)
        return {SiteStatus(row[0]): int(row[1]) for row in self._execute(query)}

    def add_version(
        self, version: SiteVersion, bodies: Mapping[str, bytes], banner: RenderedPage | None = None
    ) -> None:
        self._insert_unique(
            _INSERT_VERSION,
            f"version {version.number} of site {version.site_id} exists",
            {
                "site_id": version.site_id,
                "number": version.number,
                "cause": version.cause.value,
                "note": version.note,
                "created_by": version.created_by.value,
                "created_at": version.created_at,
                "edit_id": version.edit_id,
                "restored_from": version.restored_from,
            },
        )
        pages = [page for page in (clean_page(version.files), banner) if page is not None]
        self.store_bodies(version.files, bodies, also=[page.digest for page in pages])
        if version.files:
            self._write(
                _INSERT_FILES,
                [
                    {
                        "site_id": version.site_id,
                        "number": version.number,
                        "path": file.path,
                        "digest": file.digest,
                        "size": file.size,
                        "content_type": file.content_type,
                        "slug_digest": file.slug_digest,
                        "root_digest": file.root_digest,
                    }
                    for file in version.files
                ],
            )
        if pages:
            self._write(
                _INSERT_PAGES,
                [
                    {
                        "site_id": version.site_id,
                        "number": version.number,
                        "variant": page.variant.value,
                        "digest": page.digest,
                        "render_key": page.key,
                    }
                    for page in pages
                ],
            )

    def rendered_pages(self, site_id: uuid.UUID, number: int) -> Sequence[RenderedPage]:
        rows = self._execute(_PAGES_OF_VERSION, {"site_id": site_id, "n": number})
        return [RenderedPage(PageVariant(row.variant), row.digest, row.render_key) for row in rows]

    def store_bodies(
        self, files: Sequence[VersionFile], bodies: Mapping[str, bytes], *, also: Iterable[str] = ()
    ) -> None:
        """Store every body ``files`` name (and the digests ``also`` lists) that is not
        stored yet, from ``bodies`` (``ValueError`` for one in neither)."""
        named = {d for file in files for d in (file.digest, file.slug_digest, file.root_digest)}
        named.update(also)
        connection = self._connection()
        if connection.dialect.name == "postgresql":
            # Conflicts only with ``collect_garbage``'s lock: it waits for this transaction,
            # and this one for it, so a body is never deleted under a version being added.
            self._execute(text("LOCK TABLE blobs IN ROW EXCLUSIVE MODE"))
        stored: set[str] = set()
        wanted = sorted(named)
        for start in range(0, len(wanted), 500):
            stored.update(self._execute(_STORED_DIGESTS, {"digests": wanted[start : start + 500]}).scalars())
        missing = sorted(named - stored)
        absent = [digest for digest in missing if digest not in bodies]
        if absent:
            raise ValueError(f"no body given or stored for digest(s) {', '.join(absent)}")
        if missing:
            # A concurrent writer may store the same body first: that is the same bytes.
            self._write(
                _INSERT_BLOB[connection.dialect.name],
                [{"digest": d, "size": len(bodies[d]), "data": bodies[d]} for d in missing],
            )

    def get_version(self, site_id: uuid.UUID, number: int) -> SiteVersion | None:
        row = self._execute(_VERSION, {"site_id": site_id, "n": number}).first()
        if row is None:
            return None
        files = [version_file(f) for f in self._execute(_FILES_OF_VERSION, {"site_id": site_id, "n": number})]
        return _version(row, files)

    def list_versions(self, site_id: uuid.UUID) -> Sequence[SiteVersion]:
        query = select(_versions).where(_versions.c.site_id == site_id).order_by(_versions.c.number.desc())
        rows = self._execute(query).all()
        files: dict[int, list[VersionFile]] = {}
        file_query = (
            select(_files.c.number, *_FILE_COLUMNS)
            .where(_files.c.site_id == site_id)
            .order_by(_files.c.number, _files.c.path)
        )
        for f in self._execute(file_query):
            files.setdefault(f.number, []).append(version_file(f))
        return [_version(row, files.get(row.number, [])) for row in rows]

    def get_body(self, digest: str) -> bytes | None:
        data = self._execute(_BODY, {"digest": digest}).scalar()
        return bytes(data) if data is not None else None

    def collect_garbage(self) -> BlobUsage:
        connection = self._connection()
        self._begin_for_write()  # SQLite: the write lock keeps every writer out meanwhile
        if connection.dialect.name == "postgresql":
            # Waits for every transaction adding a version (see add_version), and holds
            # new ones off until this one ends.
            self._execute(text("LOCK TABLE blobs IN SHARE ROW EXCLUSIVE MODE"))
        count, size = self._execute(
            select(func.count(), func.coalesce(func.sum(_blobs.c.size), 0)).where(_UNREFERENCED)
        ).one()
        self._execute(delete(_blobs).where(_UNREFERENCED))
        return BlobUsage(blobs=int(count), bytes=int(size))

    def blob_usage(self) -> BlobUsage:
        count, size = self._execute(select(func.count(), func.coalesce(func.sum(_blobs.c.size), 0))).one()
        return BlobUsage(blobs=int(count), bytes=int(size))

    def version_summaries(self, site_id: uuid.UUID) -> Sequence[SiteVersionSummary]:
        query = (
            select(
                _versions.c.number,
                _versions.c.created_at,
                _versions.c.cause,
                _versions.c.created_by,
                _versions.c.note,
                _versions.c.edit_id,
                _versions.c.restored_from,
            )
            .where(_versions.c.site_id == site_id)
            .order_by(_versions.c.number.desc())
        )
        return [
            SiteVersionSummary(
                number=row.number,
                created_at=row.created_at,
                cause=VersionCause(row.cause),
                created_by=Actor(row.created_by),
                note=row.note,
                edit_id=row.edit_id,
                restored_from=row.restored_from,
            )
            for row in self._execute(query)
        ]

    def events(self, site_id: uuid.UUID) -> Sequence[SiteEvent]:
        return [_event(row) for row in self._execute(_EVENTS, {"site_id": site_id})]
