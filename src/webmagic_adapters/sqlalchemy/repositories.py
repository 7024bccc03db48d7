"""Repositories on SQLAlchemy Core: rows in, attrs entities out.

``SqlAlchemyRepository`` holds what every repository shares: running statements on the
unit of work's connection, inserts that report clashes as ``Conflict``, and taking the
write lock before the first write (see ``begin_for_write``). The site repository lives
here; accounts and the outbox have their own modules.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult, Executable, Row, Select, func, insert, select, update
from sqlalchemy import exc as sa_exc

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.errors import is_unique_violation, translating_errors
from webmagic_core.errors import Conflict
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.ports import SiteHead
from webmagic_core.sites import Actor, Site, SiteContent, SiteEvent, SiteVersion

# Option read by the SQLite "begin" hook in database.py: which BEGIN to emit.
SQLITE_BEGIN_OPTION = "webmagic_sqlite_begin"
# Set by that hook in ``Connection.info`` at each BEGIN: (mode, total_changes of the
# sqlite3 connection then), so ``begin_for_write`` can tell a read-only transaction.
SQLITE_TRANSACTION_INFO = "webmagic_sqlite_transaction"

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
    with translating_errors():
        if connection.in_transaction():
            mode, changes_at_begin = connection.info.get(SQLITE_TRANSACTION_INFO, ("IMMEDIATE", 0))
            raw = connection.connection.driver_connection
            if mode == "IMMEDIATE" or raw is None or raw.total_changes != changes_at_begin:
                return
            if connection.in_nested_transaction():
                return  # a savepoint is open: ending the transaction here would break it
            connection.commit()
        connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        connection.begin()


class SqlAlchemyRepository:
    """Runs on the connection of the unit of work that owns it (``connection()``)."""

    def __init__(self, connection: Callable[[], Connection]) -> None:
        self._connection = connection

    def _execute(self, statement: Executable) -> CursorResult[*tuple[Any, ...]]:
        with translating_errors():
            return self._connection().execute(statement)

    def _write(self, statement: Executable) -> CursorResult[*tuple[Any, ...]]:
        self._begin_for_write()
        return self._execute(statement)

    def _select(self, query: Select[*tuple[Any, ...]], *, for_update: bool) -> CursorResult[*tuple[Any, ...]]:
        """Run ``query``; ``for_update`` locks the rows it finds until commit (``FOR
        UPDATE`` on PostgreSQL, the write lock on SQLite)."""
        if for_update:
            self._begin_for_write()
            query = query.with_for_update()
        return self._execute(query)

    def _insert_unique(self, statement: Executable, conflict: str | Callable[[], str]) -> None:
        """Insert inside a savepoint so a clash leaves the transaction usable (PostgreSQL
        would otherwise abort it), and report the clash as ``Conflict``. ``conflict`` may
        be a function, called after the clash, that says which rule was broken."""
        self._write_unique(statement, conflict)

    def _write_unique(self, statement: Executable, conflict: str | Callable[[], str]) -> int:
        """Run an INSERT or UPDATE like ``_insert_unique``; returns the rows it changed."""
        self._begin_for_write()
        connection = self._connection()
        with translating_errors():
            try:
                with connection.begin_nested():
                    return connection.execute(statement).rowcount
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
)
_HEAD_COLUMNS = (
    t.sites.c.id,
    t.sites.c.slug,
    t.sites.c.business_name,
    t.sites.c.status,
    t.sites.c.current_version,
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
    )


def _version(row: AnyRow) -> SiteVersion:
    return SiteVersion(
        site_id=row.site_id,
        number=row.number,
        content=SiteContent(html=row.html, css=row.css, js=row.js),
        cause=row.cause,
        created_by=Actor(row.created_by),
        created_at=row.created_at,
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


class SqlAlchemySiteRepository(SqlAlchemyRepository):
    def add(self, site: Site) -> None:
        self._insert_unique(
            insert(t.sites).values(
                id=site.id,
                slug=site.slug,
                business_name=site.business_name,
                status=site.status.value,
                current_version=site.current_version,
                created_at=site.created_at,
                updated_at=site.updated_at,
            ),
            f"the slug {site.slug!r} is already taken",
        )
        self._flush_events(site)

    def save(self, site: Site) -> None:
        result = self._write(
            update(t.sites)
            .where(t.sites.c.id == site.id)
            .values(
                slug=site.slug,
                business_name=site.business_name,
                status=site.status.value,
                current_version=site.current_version,
                updated_at=site.updated_at,
            )
        )
        if result.rowcount == 0:
            raise LookupError(f"site {site.id} was never added")
        self._flush_events(site)

    def _flush_events(self, site: Site) -> None:
        if not site.pending_events:
            return
        self._write(
            insert(t.site_events).values(
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
                ]
            )
        )
        site.pending_events.clear()

    def get(self, site_id: uuid.UUID) -> Site | None:
        row = self._execute(select(*_SITE_COLUMNS).where(t.sites.c.id == site_id)).first()
        return _site(row) if row is not None else None

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Site | None:
        query = select(*_SITE_COLUMNS).where(t.sites.c.slug == slug)
        row = self._select(query, for_update=for_update).first()
        return _site(row) if row is not None else None

    def head_by_slug(self, slug: str) -> SiteHead | None:
        row = self._execute(select(*_HEAD_COLUMNS).where(t.sites.c.slug == slug)).first()
        if row is None:
            return None
        return SiteHead(
            id=row.id,
            slug=row.slug,
            business_name=row.business_name,
            status=SiteStatus(row.status),
            current_version=row.current_version,
        )

    def list(self, *, status: SiteStatus | None = None) -> Sequence[Site]:
        query = select(*_SITE_COLUMNS).order_by(t.sites.c.slug)
        if status is not None:
            query = query.where(t.sites.c.status == status.value)
        return [_site(row) for row in self._execute(query)]

    def count_by_status(self) -> dict[SiteStatus, int]:
        query = select(t.sites.c.status, func.count()).group_by(t.sites.c.status)
        return {SiteStatus(row[0]): int(row[1]) for row in self._execute(query)}

    def add_version(self, version: SiteVersion) -> None:
        self._insert_unique(
            insert(t.site_versions).values(
                site_id=version.site_id,
                number=version.number,
                html=version.content.html,
                css=version.content.css,
                js=version.content.js,
                cause=version.cause,
                created_by=version.created_by.value,
                created_at=version.created_at,
            ),
            f"version {version.number} of site {version.site_id} exists",
        )

    def get_version(self, site_id: uuid.UUID, number: int) -> SiteVersion | None:
        query = select(t.site_versions).where(
            t.site_versions.c.site_id == site_id, t.site_versions.c.number == number
        )
        row = self._execute(query).first()
        return _version(row) if row is not None else None

    def list_versions(self, site_id: uuid.UUID) -> Sequence[SiteVersion]:
        query = (
            select(t.site_versions)
            .where(t.site_versions.c.site_id == site_id)
            .order_by(t.site_versions.c.number.desc())
        )
        return [_version(row) for row in self._execute(query)]

    def events(self, site_id: uuid.UUID) -> Sequence[SiteEvent]:
        query = (
            select(t.site_events)
            .where(t.site_events.c.site_id == site_id)
            .order_by(t.site_events.c.occurred_at, t.site_events.c.seq)
        )
        return [_event(row) for row in self._execute(query)]
