"""Use cases for managing sites and resolving what hosting serves."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import attrs

from webmagic_core.errors import Conflict, NotFound
from webmagic_core.lifecycle import ServeMode, SiteStatus, Trigger, policy
from webmagic_core.ports import Clock, SiteDirectory, SiteHead, UnitOfWorkFactory
from webmagic_core.sites import (
    Actor,
    Site,
    SiteContent,
    SiteEvent,
    SiteVersion,
    SiteVersionSummary,
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
    hot path); without it ``resolve`` reads through a unit of work like everything else."""

    uow: UnitOfWorkFactory
    clock: Clock
    directory: SiteDirectory | None = None

    def create_preview(
        self,
        slug: str,
        business_name: str,
        content: SiteContent,
        *,
        actor: Actor = Actor.ADMIN,
        cause: str = "created",
    ) -> Site:
        slug = validate_slug(slug)
        business_name = validate_business_name(business_name)
        now = self.clock.now()
        with self.uow() as uow:
            if uow.sites.get_by_slug(slug) is not None:
                raise Conflict(f"the slug {slug!r} is already taken")
            site = Site.new_preview(slug=slug, business_name=business_name, now=now, actor=actor, cause=cause)
            uow.sites.add(site)
            uow.sites.add_version(
                SiteVersion(
                    site_id=site.id, number=1, content=content, cause=cause, created_by=actor, created_at=now
                )
            )
            uow.commit()
        return site

    def publish(
        self,
        slug: str,
        content: SiteContent,
        *,
        actor: Actor = Actor.ADMIN,
        cause: str = "published",
    ) -> SiteVersion:
        """Add a new version and make it current; every earlier version is kept."""
        now = self.clock.now()
        with self.uow() as uow:
            site = self._live_site(uow.sites.get_by_slug(slug, for_update=True), slug)
            version = SiteVersion(
                site_id=site.id,
                number=site.current_version + 1,
                content=content,
                cause=cause,
                created_by=actor,
                created_at=now,
            )
            uow.sites.add_version(version)
            site.current_version = version.number
            site.updated_at = now
            uow.sites.save(site)
            uow.commit()
        return version

    def archive(
        self, slug: str, *, actor: Actor = Actor.ADMIN, cause: str = "archived by an operator"
    ) -> Site:
        with self.uow() as uow:
            site = self._live_site(uow.sites.get_by_slug(slug, for_update=True), slug)
            site.apply(Trigger.ARCHIVED, cause=cause, actor=actor, at=self.clock.now())
            uow.sites.save(site)
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
            owned = uow.sites.list(owner_id=customer_id)
        return [site for site in owned if site.status is not SiteStatus.ARCHIVED]

    def owned_site(self, customer_id: uuid.UUID, slug: str) -> Site:
        """One of the customer's live sites; anyone else's (or an archived one) is
        ``NotFound`` exactly like an unknown slug."""
        with self.uow() as uow:
            return self._owned(uow.sites.get_by_slug(slug), customer_id, slug)

    def owned_versions(self, customer_id: uuid.UUID, slug: str) -> VersionHistory:
        """``owned_site`` with its versions, newest first, without their files."""
        with self.uow() as uow:
            site = self._owned(uow.sites.get_by_slug(slug), customer_id, slug)
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

    def version(self, site_id: uuid.UUID, number: int) -> SiteVersion:
        with self.uow() as uow:
            version = uow.sites.get_version(site_id, number)
        if version is None:
            raise NotFound(f"site {site_id} has no version {number}")
        return version

    @staticmethod
    def _owned(site: Site | None, customer_id: uuid.UUID, slug: str) -> Site:
        if site is None or site.owner_id != customer_id or site.status is SiteStatus.ARCHIVED:
            raise NotFound(_unknown(slug))
        return site

    @staticmethod
    def _live_site(site: Site | None, slug: str) -> Site:
        if site is None or site.status is SiteStatus.ARCHIVED:
            raise NotFound(f"no live site has the slug {shown(slug)}")
        return site


def _unknown(slug: str) -> str:
    return f"no site has the slug {shown(slug)}"
