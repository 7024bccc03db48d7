"""``EditRepository`` on SQLAlchemy Core, and the unit of work that holds it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, insert, or_, select

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.repositories import (
    AnyRow,
    Insertion,
    Lookup,
    SqlAlchemyRepository,
    entity_columns,
    updating,
)
from webmagic_adapters.sqlalchemy.sites_repository import SqlAlchemySiteRepository, version_file
from webmagic_adapters.sqlalchemy.uow import SqlAlchemyUnitOfWork
from webmagic_core.edits.model import EditRequest, EditStatus
from webmagic_core.site_files import VersionFile

_r = t.edit_requests
_f = t.edit_draft_files
_COLUMNS = entity_columns(_r)
_CHANGEABLE = (
    "status",
    "updated_at",
    "base_version",
    "summary",
    "drafted_at",
    "drafted_by",
    "version",
    "reason",
    "detail",
    "claim_id",
    "claimed_until",
    "attempts",
)
_INSERT = Insertion(_r)
_UPDATE = updating(_r, _r.c.id, _CHANGEABLE)
_BY_ID = Lookup(select(*_COLUMNS).where(_r.c.id == bindparam("id")))
_FILES = select(_f).where(_f.c.edit_id == bindparam("id")).order_by(_f.c.path)
# The portal's list of a site's requests, built once (see ``Lookup``).
_FOR_SITE = (
    select(*_COLUMNS)
    .where(_r.c.site_id == bindparam("site_id"))
    .order_by(_r.c.created_at.desc(), _r.c.seq.desc())
    .limit(bindparam("limit"))
)
_FILES_OF = (
    select(_f).where(_f.c.edit_id.in_(bindparam("ids", expanding=True))).order_by(_f.c.edit_id, _f.c.path)
)
_INSERT_FILES = insert(_f)
_DELETE_FILES = delete(_f).where(_f.c.edit_id == bindparam("id"))


def _edit(row: AnyRow, files: Sequence[VersionFile] = ()) -> EditRequest:
    return EditRequest(
        id=row.id,
        site_id=row.site_id,
        customer_id=row.customer_id,
        instructions=row.instructions,
        status=EditStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        base_version=row.base_version,
        summary=row.summary,
        draft_files=tuple(files),
        drafted_at=row.drafted_at,
        drafted_by=row.drafted_by,
        version=row.version,
        reason=row.reason,
        detail=row.detail,
        claim_id=row.claim_id,
        claimed_until=row.claimed_until,
        attempts=row.attempts,
    )


class SqlAlchemyEditRepository(SqlAlchemyRepository):
    def __init__(self, connection: Callable[[], Any], sites: SqlAlchemySiteRepository) -> None:
        super().__init__(connection)
        self._sites = sites  # stores the draft's bodies, as it does a version's

    def add(self, edit: EditRequest) -> None:
        self._insert_unique(
            _INSERT,
            f"edit {edit.id} exists",
            {
                "id": edit.id,
                "site_id": edit.site_id,
                "customer_id": edit.customer_id,
                "instructions": edit.instructions,
                "created_at": edit.created_at,
                **self._changeable(edit),
            },
        )
        self._write_files(edit, {}, replace=False)

    def save(self, edit: EditRequest, bodies: Mapping[str, bytes] | None = None) -> None:
        if self._write(_UPDATE, {"_key": edit.id, **self._changeable(edit)}).rowcount == 0:
            raise LookupError(f"edit {edit.id} was never added")
        if bodies is not None:
            self._write_files(edit, bodies, replace=True)

    def _write_files(self, edit: EditRequest, bodies: Mapping[str, bytes], *, replace: bool) -> None:
        if replace:
            self._write(_DELETE_FILES, {"id": edit.id})
        if not edit.draft_files:
            return
        self._sites.store_bodies(edit.draft_files, bodies)
        self._write(
            _INSERT_FILES,
            [
                {
                    "edit_id": edit.id,
                    "path": f.path,
                    "digest": f.digest,
                    "size": f.size,
                    "content_type": f.content_type,
                    "slug_digest": f.slug_digest,
                    "root_digest": f.root_digest,
                }
                for f in edit.draft_files
            ],
        )

    @staticmethod
    def _changeable(edit: EditRequest) -> dict[str, Any]:
        return {
            "status": edit.status.value,
            "updated_at": edit.updated_at,
            "base_version": edit.base_version,
            "summary": edit.summary,
            "drafted_at": edit.drafted_at,
            "drafted_by": edit.drafted_by,
            "version": edit.version,
            "reason": edit.reason,
            "detail": edit.detail,
            "claim_id": edit.claim_id,
            "claimed_until": edit.claimed_until,
            "attempts": edit.attempts,
        }

    def get(self, edit_id: uuid.UUID, *, for_update: bool = False) -> EditRequest | None:
        row = self._lookup(_BY_ID, {"id": edit_id}, for_update=for_update).first()
        if row is None:
            return None
        return _edit(row, [version_file(f) for f in self._execute(_FILES, {"id": edit_id})])

    def _with_files(self, rows: Sequence[AnyRow]) -> list[EditRequest]:
        # Only a drafted request has files (most have none: pending, rejected, failed).
        ids = [row.id for row in rows if row.drafted_at is not None]
        files: dict[uuid.UUID, list[VersionFile]] = {}
        if ids:
            for f in self._execute(_FILES_OF, {"ids": ids}):
                files.setdefault(f.edit_id, []).append(version_file(f))
        return [_edit(row, files.get(row.id, ())) for row in rows]

    def for_site(self, site_id: uuid.UUID, *, limit: int = 100) -> Sequence[EditRequest]:
        if limit <= 0:
            return []
        return self._with_files(self._execute(_FOR_SITE, {"site_id": site_id, "limit": limit}).all())

    def list(self, *, status: EditStatus | None = None, limit: int = 100) -> Sequence[EditRequest]:
        where = [_r.c.status == status.value] if status is not None else []
        return self._with_files(self._newest(_r, _r.c.created_at, limit, *where))

    def count_since(self, site_id: uuid.UUID, since: dt.datetime) -> int:
        query = select(func.count()).where(
            _r.c.site_id == site_id, _r.c.created_at >= since, _r.c.status != EditStatus.FAILED.value
        )
        return int(self._execute(query).scalar_one())

    def claim_next(self, now: dt.datetime, lease: dt.timedelta, *, max_attempts: int) -> EditRequest | None:
        # SQLite: the write lock first, so no other worker reads the same row before this
        # transaction marks it. PostgreSQL: a row another worker is claiming right now is
        # skipped rather than waited for.
        self._begin_for_write()
        query = (
            select(*_COLUMNS)
            .where(
                _r.c.status == EditStatus.PENDING.value,
                or_(_r.c.claimed_until.is_(None), _r.c.claimed_until <= now),
                _r.c.attempts < max_attempts,
            )
            .order_by(_r.c.created_at, _r.c.seq)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        row = self._execute(query).first()
        if row is None:
            return None
        edit = _edit(row)
        edit.claim(now, lease)
        self.save(edit)
        return edit

    def exhausted(self, now: dt.datetime, *, max_attempts: int, limit: int = 100) -> Sequence[EditRequest]:
        query = (
            select(*_COLUMNS)
            .where(
                _r.c.status == EditStatus.PENDING.value,
                _r.c.attempts >= max_attempts,
                or_(_r.c.claimed_until.is_(None), _r.c.claimed_until <= now),
            )
            .order_by(_r.c.created_at, _r.c.seq)
            .limit(limit)
        )
        return [_edit(row) for row in self._execute(query).all()]

    def count_by_status(self) -> dict[EditStatus, int]:
        query = select(_r.c.status, func.count()).group_by(_r.c.status)
        return {EditStatus(row[0]): int(row[1]) for row in self._execute(query)}


class SqlAlchemyEditUnitOfWork(SqlAlchemyUnitOfWork):
    """The unit of work with ``edits`` as well."""

    def __init__(self, engine: Engine, **options: Any) -> None:
        super().__init__(engine, **options)
        sites = self.sites
        assert isinstance(sites, SqlAlchemySiteRepository)
        self._edits = SqlAlchemyEditRepository(self.connection, sites)

    @property
    def edits(self) -> SqlAlchemyEditRepository:
        return self._edits


def edit_units_of_work(database: Database) -> Callable[[], SqlAlchemyEditUnitOfWork]:
    """The ``EditUnitOfWorkFactory`` of a database (same engine and write gate)."""

    def make() -> SqlAlchemyEditUnitOfWork:
        return database.unit_of_work_of(SqlAlchemyEditUnitOfWork)

    return make
