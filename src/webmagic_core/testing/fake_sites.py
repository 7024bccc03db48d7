"""In-memory sites and publish queue (see ``testing.fakes``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence

import attrs

from webmagic_core.errors import Conflict
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.pages import PageVariant, RenderedPage, clean_page, page_variant
from webmagic_core.ports import BlobUsage, PublishClaim, SiteHead
from webmagic_core.site_files import VersionFile
from webmagic_core.sites import Site, SiteEvent, SiteVersion, SiteVersionSummary
from webmagic_core.testing.fake_store import _detached, _PublishRow, _Store


@attrs.define
class FakeSiteRepository:
    store: _Store

    def add(self, site: Site) -> None:
        if any(s.slug == site.slug for s in self.store.sites.values()):
            raise Conflict(f"the slug {site.slug!r} is already taken")
        self.store.sites[site.id] = _detached(site)
        self._flush_events(site)

    def save(self, site: Site) -> None:
        if site.id not in self.store.sites:
            raise LookupError(f"site {site.id} was never added")
        self.store.sites[site.id] = _detached(site)
        self._flush_events(site)

    def _flush_events(self, site: Site) -> None:
        self.store.events.extend(site.pending_events)
        site.pending_events.clear()

    def get(self, site_id: uuid.UUID, *, for_update: bool = False) -> Site | None:
        site = self.store.sites.get(site_id)
        return _detached(site) if site else None

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Site | None:
        for site in self.store.sites.values():
            if site.slug == slug:
                return _detached(site)
        return None

    def head_by_slug(self, slug: str) -> SiteHead | None:
        site = self.get_by_slug(slug)
        if site is None:
            return None
        variant = page_variant(site.status)
        page = self.store.pages.get((site.id, site.current_version, variant)) if variant else None
        return SiteHead(
            id=site.id,
            slug=site.slug,
            business_name=site.business_name,
            status=site.status,
            current_version=site.current_version,
            page_digest=page.digest if page is not None else None,
            page_key=page.key if page is not None else "",
        )

    def list(self, *, status: SiteStatus | None = None, owner_id: uuid.UUID | None = None) -> Sequence[Site]:
        sites = [
            _detached(s)
            for s in self.store.sites.values()
            if (status is None or s.status is status) and (owner_id is None or s.owner_id == owner_id)
        ]
        return sorted(sites, key=lambda s: s.slug)

    def count_by_status(self) -> dict[SiteStatus, int]:
        counts: dict[SiteStatus, int] = {}
        for site in self.store.sites.values():
            counts[site.status] = counts.get(site.status, 0) + 1
        return counts

    def add_version(
        self, version: SiteVersion, bodies: Mapping[str, bytes], banner: RenderedPage | None = None
    ) -> None:
        key = (version.site_id, version.number)
        if key in self.store.versions:
            raise Conflict(f"version {version.number} of site {version.site_id} exists")
        if banner is not None and banner.digest not in bodies and banner.digest not in self.store.blobs:
            raise ValueError(f"no body for the banner page's digest {banner.digest}")
        self.store_bodies(version.files, bodies)
        self.store.versions[key] = version
        for page in (clean_page(version.files), banner):
            if page is not None:
                if page.digest not in self.store.blobs:
                    self.store.blobs[page.digest] = bytes(bodies[page.digest])
                self.store.pages[(*key, page.variant)] = page

    def rendered_pages(self, site_id: uuid.UUID, number: int) -> Sequence[RenderedPage]:
        return [page for variant in PageVariant if (page := self.store.pages.get((site_id, number, variant)))]

    def store_bodies(self, files: Sequence[VersionFile], bodies: Mapping[str, bytes]) -> None:
        for file in files:
            for digest in (file.digest, file.slug_digest, file.root_digest):
                if digest not in bodies and digest not in self.store.blobs:
                    raise ValueError(f"{file.path}: no body for digest {digest}")
        for file in files:
            for digest in (file.digest, file.slug_digest, file.root_digest):
                if digest not in self.store.blobs:
                    self.store.blobs[digest] = bytes(bodies[digest])

    def get_body(self, digest: str) -> bytes | None:
        return self.store.blobs.get(digest)

    def collect_garbage(self) -> BlobUsage:
        files = [f for v in self.store.versions.values() for f in v.files]
        files += [f for e in self.store.edits.values() for f in e.draft_files]
        used = {digest for file in files for digest in (file.digest, file.slug_digest, file.root_digest)}
        used |= {page.digest for page in self.store.pages.values()}
        unused = [digest for digest in self.store.blobs if digest not in used]
        freed = sum(len(self.store.blobs.pop(digest)) for digest in unused)
        return BlobUsage(blobs=len(unused), bytes=freed)

    def blob_usage(self) -> BlobUsage:
        return BlobUsage(blobs=len(self.store.blobs), bytes=sum(map(len, self.store.blobs.values())))

    def get_version(self, site_id: uuid.UUID, number: int) -> SiteVersion | None:
        return self.store.versions.get((site_id, number))

    def list_versions(self, site_id: uuid.UUID) -> Sequence[SiteVersion]:
        found = [v for (sid, _), v in self.store.versions.items() if sid == site_id]
        return sorted(found, key=lambda v: v.number, reverse=True)

    def version_summaries(self, site_id: uuid.UUID) -> Sequence[SiteVersionSummary]:
        return [
            SiteVersionSummary(
                number=v.number,
                created_at=v.created_at,
                cause=v.cause,
                created_by=v.created_by,
                note=v.note,
                edit_id=v.edit_id,
                restored_from=v.restored_from,
            )
            for v in self.list_versions(site_id)
        ]

    def events(self, site_id: uuid.UUID) -> Sequence[SiteEvent]:
        return [e for e in self.store.events if e.site_id == site_id]


# Repositories hand out and keep copies: a change is stored only through add/save, as in
# a database, so a service that forgets to save is caught here too.


@attrs.define
class FakePublishQueue:
    """``PublishQueue`` in memory; ``enabled=False`` is publishing turned off (requests
    are dropped), as the SQL queue does without ``WEBMAGIC_PUBLISH_DIR``."""

    store: _Store
    enabled: bool = True
    on_request: Callable[[], None] | None = None

    def request(self, site_id: uuid.UUID, now: dt.datetime) -> None:
        if not self.enabled:
            return
        row = self.store.publish_requests.get(site_id)
        if row is None:
            self.store.publish_requests[site_id] = _PublishRow(1, now, now)
        else:
            row.generation += 1
            row.requested_at = now
            row.next_attempt_at = min(row.next_attempt_at, now)
        if self.on_request is not None:
            self.on_request()

    def claim(self, now: dt.datetime, *, limit: int, lease: dt.timedelta) -> Sequence[PublishClaim]:
        due = [
            (site_id, row)
            for site_id, row in self.store.publish_requests.items()
            if row.next_attempt_at <= now and (row.claimed_until is None or row.claimed_until <= now)
        ]
        due.sort(key=lambda item: item[1].requested_at)
        claims = []
        for site_id, row in due[: max(0, limit)]:
            row.claimed_until = now + lease
            claims.append(PublishClaim(site_id, row.generation, row.attempts))
        return claims

    def complete(self, claim: PublishClaim) -> bool:
        row = self.store.publish_requests.get(claim.site_id)
        if row is None:
            return True
        if row.generation == claim.generation:
            del self.store.publish_requests[claim.site_id]
            return True
        row.claimed_until, row.attempts = None, 0
        return False

    def fail(self, claim: PublishClaim, error: str, retry_at: dt.datetime) -> None:
        row = self.store.publish_requests.get(claim.site_id)
        if row is None:
            return
        row.claimed_until, row.last_error = None, error
        if row.generation == claim.generation:
            row.attempts += 1
            row.next_attempt_at = retry_at

    def pending(self) -> int:
        return len(self.store.publish_requests)

    def due(self, now: dt.datetime) -> bool:
        return any(
            row.next_attempt_at <= now and (row.claimed_until is None or row.claimed_until <= now)
            for row in self.store.publish_requests.values()
        )
