"""The site repository on SQLAlchemy Core: sites, their versions and files, events, blobs
and rendered pages. The statements are built once (see ``repositories.Lookup``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.repositories import (
    AnyRow,
    Insertion,
    Lookup,
    SqlAlchemyRepository,
    updating,
)
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.pages import PageVariant, RenderedPage, clean_page
from webmagic_core.ports import BlobUsage, SiteHead
from webmagic_core.site_files import VersionFile
from webmagic_core.sites import Actor, Site, SiteEvent, SiteVersion, SiteVersionSummary, VersionCause

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


def event_row(event: SiteEvent) -> dict[str, Any]:
    """The ``site_events`` row of an event (also for bulk loads that bypass the repository)."""
    return {
        "id": event.id,
        "site_id": event.site_id,
        "from_status": event.from_status.value if event.from_status is not None else None,
        "to_status": event.to_status.value,
        "cause": event.cause,
        "actor": event.actor.value,
        "reference": event.reference,
        "occurred_at": event.occurred_at,
    }


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
_INSERT_EVENTS = Insertion(_events).plain  # registered: runs on the driver's cursor
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
        rows = [event_row(event) for event in site.pending_events]
        # One event (a sale, a suspension...) is the common case: one row runs on the
        # driver's cursor (``FastStatement``), a list goes through SQLAlchemy's executemany.
        self._write(_INSERT_EVENTS, rows[0] if len(rows) == 1 else rows)
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
