"""Use cases for managing sites and resolving what hosting serves."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import attrs

from webmagic_core.errors import Conflict, NotFound
from webmagic_core.lifecycle import ServeMode, SiteStatus, Trigger, policy
from webmagic_core.pages import PageVariant, RenderedPage, page_variant
from webmagic_core.ports import (
    BlobUsage,
    Clock,
    PreviewBanner,
    SiteDirectory,
    SiteHead,
    SiteRewriter,
    UnitOfWorkFactory,
)
from webmagic_core.services.publishing import request_publish
from webmagic_core.site_diff import VersionDiff, diff_files
from webmagic_core.site_files import (
    INDEX,
    FileLimits,
    PreparedFiles,
    SiteFiles,
    digest_of,
    is_text,
    prepare_files,
)
from webmagic_core.sites import (
    Actor,
    Site,
    SiteContent,
    SiteEvent,
    SiteVersion,
    SiteVersionSummary,
    VersionCause,
    validate_business_name,
)
from webmagic_core.slugs import shown, validate_slug


@attrs.frozen
class SiteDetails:
    site: Site
    versions: Sequence[SiteVersion]
    events: Sequence[SiteEvent]


@attrs.frozen
class VersionHistory:
    site: Site
    versions: Sequence[SiteVersionSummary]  # newest first, without their files


@attrs.frozen
class Resolution:
    """What hosting should do for a request: the mode, and the site when one is served."""

    mode: ServeMode
    site: SiteHead | None = None


NOT_FOUND = Resolution(ServeMode.NOT_FOUND)


@attrs.define
class SiteService:
    """``directory``, when given, answers ``resolve`` without a unit of work (the hosting
    hot path); without it ``resolve`` reads through a unit of work like everything else.

    ``rewriter`` computes, when a version is written, what each file is served as under
    ``/{slug}`` and at a domain root (see ``SiteRewriter``); without one (some tests),
    files are served as uploaded. ``limits`` bound what one version may hold.

    ``banner`` renders, when a version of a preview is written, its page with the
    purchase banner (webmagic_core.pages); without one hosting renders it per request."""

    uow: UnitOfWorkFactory
    clock: Clock
    directory: SiteDirectory | None = None
    rewriter: SiteRewriter | None = None
    banner: PreviewBanner | None = None
    limits: FileLimits = attrs.field(factory=FileLimits)

    def create_preview(
        self,
        slug: str,
        business_name: str,
        content: SiteContent | SiteFiles,
        *,
        actor: Actor = Actor.ADMIN,
        cause: str = "created",
    ) -> Site:
        """A new site in preview with its first version (``import``); ``cause`` is the
        operator's words for its history."""
        slug = validate_slug(slug)
        business_name = validate_business_name(business_name)
        prepared = self.prepare(slug, content)  # parsing and hashing before any lock is taken
        banner = self.render_banner(slug, business_name, prepared)
        now = self.clock.now()
        with self.uow() as uow:
            if uow.sites.get_by_slug(slug) is not None:
                raise Conflict(f"the slug {slug!r} is already taken")
            site = Site.new_preview(slug=slug, business_name=business_name, now=now, actor=actor, cause=cause)
            uow.sites.add(site)
            request_publish(uow, site.id, now)
            uow.sites.add_version(
                SiteVersion(
                    site_id=site.id,
                    number=1,
                    files=prepared.files,
                    cause=VersionCause.IMPORT,
                    created_by=actor,
                    created_at=now,
                    note=cause,
                ),
                *self._with_banner(site, prepared, banner),
            )
            uow.commit()
        return site

    def render_banner(
        self, slug: str, business_name: str, prepared: PreparedFiles
    ) -> tuple[RenderedPage, bytes] | None:
        """The page of a version with the preview banner, and its bytes (None without a
        ``banner``)."""
        if self.banner is None:
            return None
        index = next(file for file in prepared.files if file.path == INDEX)
        body = self.banner.render(
            prepared.bodies[index.slug_digest],
            slug=slug,
            business_name=business_name,
            rewritten=index.slug_digest != index.digest,
        )
        return RenderedPage(PageVariant.BANNER, digest_of(body), self.banner.key), body

    @staticmethod
    def _with_banner(
        site: Site, prepared: PreparedFiles, banner: tuple[RenderedPage, bytes] | None
    ) -> tuple[dict[str, bytes], RenderedPage | None]:
        """``add_version``'s bodies and banner page for a version of ``site``: the banner
        variant is stored while the site is a preview (nothing leads back into preview, so
        a version written later can never serve it)."""
        if banner is None or page_variant(site.status) is not PageVariant.BANNER:
            return prepared.bodies, None
        page, body = banner
        return {**prepared.bodies, page.digest: body}, page

    def prepare(self, slug: str, content: SiteContent | SiteFiles) -> PreparedFiles:
        """Validate the files and compute, once, what each is served as."""
        # SiteFiles built elsewhere are checked again against this service's limits.
        files = (
            SiteFiles.build(content.bodies, self.limits)
            if isinstance(content, SiteFiles)
            else content.files(self.limits)
        )
        if self.rewriter is None:
            return prepare_files(files)
        return prepare_files(
            files, self.rewriter.rewrite(files, f"/{slug}"), self.rewriter.rewrite(files, "")
        )

    def publish(
        self,
        slug: str,
        content: SiteContent | SiteFiles,
        *,
        actor: Actor = Actor.ADMIN,
        cause: str = "published",
    ) -> SiteVersion:
        """Add a new version and make it current; every earlier version is kept."""
        prepared = self.prepare(slug, content)
        now = self.clock.now()
        with self.uow() as uow:
            site = self._live_site(uow.sites.get_by_slug(slug, for_update=True), slug)
            # Rendered under the lock: it needs the site's business name, and costs a
            # string concatenation for a page the rewriter serialised.
            banner = (
                self.render_banner(slug, site.business_name, prepared)
                if page_variant(site.status) is PageVariant.BANNER
                else None
            )
            version = SiteVersion(
                site_id=site.id,
                number=site.current_version + 1,
                files=prepared.files,
                cause=VersionCause.PUBLISH,
                created_by=actor,
                created_at=now,
                note=cause,
            )
            uow.sites.add_version(version, *self._with_banner(site, prepared, banner))
            site.current_version = version.number
            site.updated_at = now
            uow.sites.save(site)
            request_publish(uow, site.id, now)
            uow.commit()
        return version

    def archive(
        self, slug: str, *, actor: Actor = Actor.ADMIN, cause: str = "archived by an operator"
    ) -> Site:
        with self.uow() as uow:
            site = self._live_site(uow.sites.get_by_slug(slug, for_update=True), slug)
            now = self.clock.now()
            site.apply(Trigger.ARCHIVED, cause=cause, actor=actor, at=now)
            uow.sites.save(site)
            request_publish(uow, site.id, now)
            uow.commit()
        return site

    def list_sites(self, *, status: SiteStatus | None = None) -> Sequence[Site]:
        with self.uow() as uow:
            return uow.sites.list(status=status)

    def details(self, slug: str) -> SiteDetails:
        """A site in any status (archived included), with its versions and timeline."""
        with self.uow() as uow:
            site = uow.sites.get_by_slug(slug)
            if site is None:
                raise NotFound(_unknown(slug))
            return SiteDetails(
                site=site, versions=uow.sites.list_versions(site.id), events=uow.sites.events(site.id)
            )

    def owned_by(self, customer_id: uuid.UUID) -> Sequence[Site]:
        """The customer's sites by slug, archived ones left out."""
        with self.uow() as uow:
            theirs = uow.sites.list(owner_id=customer_id)
        return [site for site in theirs if site.status is not SiteStatus.ARCHIVED]

    def owned_site(self, customer_id: uuid.UUID, slug: str) -> Site:
        """One of the customer's live sites; anyone else's (or an archived one) is
        ``NotFound`` exactly like an unknown slug."""
        with self.uow() as uow:
            return owned(uow.sites.get_by_slug(slug), customer_id, slug)

    def owned_versions(self, customer_id: uuid.UUID, slug: str) -> VersionHistory:
        """``owned_site`` with its versions, newest first, without their files."""
        with self.uow() as uow:
            site = owned(uow.sites.get_by_slug(slug), customer_id, slug)
            return VersionHistory(site=site, versions=uow.sites.version_summaries(site.id))

    def resolve(self, slug: str) -> Resolution:
        """What to serve at ``/{slug}``: unknown and archived sites look the same."""
        if self.directory is not None:
            head = self.directory.head_by_slug(slug)
        else:
            with self.uow() as uow:
                head = uow.sites.head_by_slug(slug)
        if head is None or head.status is SiteStatus.ARCHIVED:
            return NOT_FOUND
        return Resolution(mode=policy(head.status).serve, site=head)

    def resolve_cached(self, slug: str) -> Resolution | None:
        """``resolve(slug)`` when the directory can answer it from memory without waiting
        on the database; None otherwise (then call ``resolve``, e.g. in a worker thread)."""
        head = self.directory.cached_head(slug) if self.directory is not None else None
        if head is None:
            return None
        if head.status is SiteStatus.ARCHIVED:
            return NOT_FOUND
        return Resolution(mode=policy(head.status).serve, site=head)

    def page_body(self, digest: str) -> bytes | None:
        """The stored page a resolved head's ``page_digest`` names (hosting's cache miss):
        one indexed read, through the directory when there is one."""
        if self.directory is not None:
            return self.directory.page_body(digest)
        with self.uow() as uow:
            return uow.sites.get_body(digest)

    def version(self, site_id: uuid.UUID, number: int) -> SiteVersion:
        """A version's file list (no bodies)."""
        with self.uow() as uow:
            version = uow.sites.get_version(site_id, number)
        if version is None:
            raise NotFound(f"site {site_id} has no version {number}")
        return version

    def body(self, digest: str) -> bytes:
        """The stored bytes of a digest that a version names."""
        with self.uow() as uow:
            data = uow.sites.get_body(digest)
        if data is None:
            raise NotFound(f"no stored file has the digest {digest}")
        return data

    def version_files(self, site_id: uuid.UUID, number: int) -> tuple[SiteVersion, SiteFiles]:
        """A version and its files as uploaded (what an edit or a new version starts from)."""
        with self.uow() as uow:
            version = uow.sites.get_version(site_id, number)
            if version is None:
                raise NotFound(f"site {site_id} has no version {number}")
            bodies = {}
            for file in version.files:
                data = uow.sites.get_body(file.digest)
                if data is None:
                    raise NotFound(f"{file.path} of version {number} has no stored body")
                bodies[file.path] = data
        return version, SiteFiles(bodies)

    def text_files(self, site_id: uuid.UUID, number: int) -> dict[str, str]:
        """A version's text files as uploaded, by path (what edit engines read and return;
        images and fonts are not text and stay as they are)."""
        _, files = self.version_files(site_id, number)
        return {path: files.text(path) for path in files.bodies if is_text(path)}

    def version_diff(self, site_id: uuid.UUID, number: int) -> VersionDiff:
        """What version ``number`` changed against the one before it (every file, text
        files line by line); version 1 against nothing."""
        with self.uow() as uow:
            after = uow.sites.get_version(site_id, number)
            if after is None:
                raise NotFound(f"there is no version {number}")
            before = uow.sites.get_version(site_id, number - 1) if number > 1 else None

            def body(digest: str) -> bytes:
                data = uow.sites.get_body(digest)
                if data is None:
                    raise NotFound(f"no stored file has the digest {digest}")
                return data

            files = diff_files(before.files if before else (), after.files, body)
        return VersionDiff(from_number=before.number if before else None, to_number=number, files=files)

    def owned_version_diff(self, customer_id: uuid.UUID, slug: str, number: int) -> VersionDiff:
        """``version_diff`` of one of the customer's live sites (``NotFound`` otherwise)."""
        return self.version_diff(self.owned_site(customer_id, slug).id, number)

    def files_of(self, slug: str, number: int | None = None) -> tuple[Site, SiteVersion]:
        """A site (any status) and one of its versions' file lists (the current one by default)."""
        with self.uow() as uow:
            site = uow.sites.get_by_slug(slug)
            if site is None:
                raise NotFound(_unknown(slug))
            wanted = site.current_version if number is None else number
            version = uow.sites.get_version(site.id, wanted)
        if version is None:
            raise NotFound(f"the site {slug!r} has no version {wanted}")
        return site, version

    def collect_garbage(self) -> BlobUsage:
        """Delete stored bodies that no version names (``webmagic db gc``)."""
        with self.uow() as uow:
            freed = uow.sites.collect_garbage()
            uow.commit()
        return freed

    def blob_usage(self) -> BlobUsage:
        with self.uow() as uow:
            return uow.sites.blob_usage()

    @staticmethod
    def _live_site(site: Site | None, slug: str) -> Site:
        if site is None or site.status is SiteStatus.ARCHIVED:
            raise NotFound(f"no live site has the slug {shown(slug)}")
        return site


def owned(site: Site | None, customer_id: uuid.UUID, slug: str) -> Site:
    """``site`` when it is one of the customer's live sites; anyone else's (or an archived
    one) is ``NotFound`` exactly like an unknown slug."""
    if site is None or site.owner_id != customer_id or site.status is SiteStatus.ARCHIVED:
        raise NotFound(_unknown(slug))
    return site


def _unknown(slug: str) -> str:
    return f"no site has the slug {shown(slug)}"
