"""Sites: their storage, the hosting hot path's read, and the rewriting done at write time."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.pages import RenderedPage
from webmagic_core.site_files import SiteFiles
from webmagic_core.sites import Site, SiteEvent, SiteVersion, SiteVersionSummary


@attrs.frozen
class SiteHead:
    """The few fields hosting needs per request, read without loading a whole site."""

    id: uuid.UUID
    slug: str
    business_name: str
    status: SiteStatus
    current_version: int
    # The stored page its status serves at ``/{slug}`` (webmagic_core.pages): the digest
    # of its bytes, which is its ETag, and the settings key it was rendered with. None
    # when the status serves no page, or no rendering is stored (hosting renders then).
    page_digest: str | None = None
    page_key: str = ""


class SiteDirectory(Protocol):
    """The read side hosting asks on every request, outside any unit of work.

    Answers what the last committed transaction (of any process sharing the database)
    left behind, so a new version or status is served on the very next request: an
    adapter may keep connections and prepared statements, but an answer only for as long
    as it can tell that nothing was committed since.
    """

    def head_by_slug(self, slug: str) -> SiteHead | None:
        """The head of the site named ``slug`` in any status, as last committed."""
        ...

    def page_body(self, digest: str) -> bytes | None:
        """The stored bytes a head's ``page_digest`` names (one indexed read)."""
        ...

    def cached_head(self, slug: str) -> SiteHead | None:
        """``head_by_slug(slug)`` when it can be answered now from memory, as fresh as
        ``head_by_slug`` would answer it, without waiting on the database; None: ask
        ``head_by_slug`` (nothing in memory, or it cannot be trusted right now)."""
        ...


@attrs.frozen
class BlobUsage:
    blobs: int
    bytes: int


class SiteRewriter(Protocol):
    """Computes, when a version is written, what its files are served as."""

    def rewrite(self, files: SiteFiles, base: str) -> Mapping[str, bytes]:
        """The served bytes of each file whose bytes differ from the uploaded ones, for a
        site served under ``base``: ``"/{slug}"`` (path hosting) or ``""`` (a domain root)."""
        ...

    def insert_banner(self, page: bytes, banner: str, *, rewritten: bool = False) -> bytes:
        """``page`` with the ``banner`` HTML added at the end of its body; ``rewritten``
        says ``page`` is what ``rewrite`` made of a page (not the uploaded bytes)."""
        ...


class PreviewBanner(Protocol):
    """Renders a preview's page with the purchase banner (when a version is written)."""

    @property
    def key(self) -> str:
        """Names the settings the banner's bytes depend on (price, URLs, template): a
        rendering made under another key is stale."""
        ...

    def render(self, page: bytes, *, slug: str, business_name: str, rewritten: bool) -> bytes:
        """``page`` (as served under ``/{slug}``) with the banner; ``rewritten`` as for
        ``SiteRewriter.insert_banner``."""
        ...


class SiteRepository(Protocol):
    def add(self, site: Site) -> None:
        """Insert a new site and its pending events. Raises ``Conflict`` if the slug is taken."""
        ...

    def save(self, site: Site) -> None:
        """Write a changed site and its pending events (clearing them)."""
        ...

    def get(self, site_id: uuid.UUID, *, for_update: bool = False) -> Site | None:
        """The site with this id in any status; ``for_update`` locks its row until commit."""
        ...

    def get_by_slug(self, slug: str, *, for_update: bool = False) -> Site | None:
        """The site named ``slug`` in any status; ``for_update`` locks its row until commit."""
        ...

    def head_by_slug(self, slug: str) -> SiteHead | None: ...

    def list(self, *, status: SiteStatus | None = None, owner_id: uuid.UUID | None = None) -> Sequence[Site]:
        """Sites ordered by slug, optionally only those of one status and/or one owner."""
        ...

    def count_by_status(self) -> dict[SiteStatus, int]: ...

    def add_version(
        self, version: SiteVersion, bodies: Mapping[str, bytes], banner: RenderedPage | None = None
    ) -> None:
        """Insert a version, its file list and its rendered pages: the clean one (its
        ``index.html`` as served under ``/{slug}``) and ``banner`` when given. ``bodies``
        maps digest -> bytes for every digest the files and ``banner`` name; a body
        already stored is not stored again. Raises ``Conflict`` if that number exists for
        the site, ``ValueError`` if a digest is neither in ``bodies`` nor stored."""
        ...

    def get_version(self, site_id: uuid.UUID, number: int) -> SiteVersion | None: ...

    def list_versions(self, site_id: uuid.UUID) -> Sequence[SiteVersion]:
        """Versions newest first, with their file lists."""
        ...

    def get_body(self, digest: str) -> bytes | None:
        """The stored bytes with this SHA-256 digest."""
        ...

    def rendered_pages(self, site_id: uuid.UUID, number: int) -> Sequence[RenderedPage]:
        """The stored renderings of a version's page, by variant order."""
        ...

    def collect_garbage(self) -> BlobUsage:
        """Delete every stored body no version file names; returns what was deleted.
        Safe while versions are written (a body is never deleted under a version that
        is being added)."""
        ...

    def blob_usage(self) -> BlobUsage:
        """How many bodies are stored, and their bytes."""
        ...

    def version_summaries(self, site_id: uuid.UUID) -> Sequence[SiteVersionSummary]:
        """Versions newest first, without loading their files."""
        ...

    def events(self, site_id: uuid.UUID) -> Sequence[SiteEvent]:
        """Every recorded transition of a site, oldest first."""
        ...
