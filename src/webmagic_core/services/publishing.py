"""Static publishing: what each site serves, written as files a front server reads.

Every change of what a site serves (a purchase, an approved edit, a restore, an operator's
publish or import, a status change, a custom domain verified, lapsed or removed) calls
``request_publish`` inside its own unit of work, so the request exists exactly when the
change is committed (the outbox pattern, as for email). ``PublishingWorker.run_once``
then claims requests in a short transaction, reads each site as last committed, writes
its files through the ``Publisher`` port outside any transaction, and records the
outcome. A worker that dies between claim and outcome leaves the request held until its
lease passes; then any worker publishes the site again. Requests coalesce (one row per
site): ten changes in a burst cost one write of the folder, made after the last of them.

The bytes are those hosting serves (``webmagic_http.site_hosting``): each file as the rewriter
made it for ``/{slug}`` (or for a domain's root), the preview banner added to the HTML of
a preview. A site served neither clean nor as a preview (suspended, archived) has no files.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs

from webmagic_core import events
from webmagic_core.domains.ports import DomainUnitOfWorkFactory
from webmagic_core.lifecycle import ServeMode, policy
from webmagic_core.outbox import backoff
from webmagic_core.ports import Clock, PreviewBanner, PublishClaim, Publisher, SitePublication, UnitOfWork
from webmagic_core.sites import Site, SiteVersion

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 500


def request_publish(uow: UnitOfWork, site_id: uuid.UUID, now: dt.datetime) -> None:
    """Ask, in ``uow``'s transaction, for the site's files to be written again after commit."""
    uow.publish_queue.request(site_id, now)


@attrs.frozen
class PublishReport:
    published: int = 0
    withdrawn: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.published + self.withdrawn + self.failed

    def __add__(self, other: PublishReport) -> PublishReport:
        return PublishReport(
            self.published + other.published, self.withdrawn + other.withdrawn, self.failed + other.failed
        )


@attrs.frozen
class RebuildReport:
    published: int = 0
    withdrawn: int = 0
    strays: int = 0


def _check_positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, not {value}")


@attrs.define
class PublishingWorker:
    uow: DomainUnitOfWorkFactory
    clock: Clock
    publisher: Publisher
    banner: PreviewBanner
    # Far longer than writing one site takes: a slow disk must not let a second worker
    # publish the same site while the first is still at it (harmless, but wasted).
    lease: dt.timedelta = dt.timedelta(seconds=60)
    batch_size: int = attrs.field(default=50, validator=_check_positive)
    rng: random.Random | None = None

    # -- the queue ---------------------------------------------------------------------

    def run_once(self) -> PublishReport:
        """Claim up to ``batch_size`` requests, publish each site, record each outcome."""
        now = self.clock.now()
        with self.uow() as uow:
            if not uow.publish_queue.due(now):  # the idle poll: a read, no write lock
                return PublishReport()
            claims = uow.publish_queue.claim(now, limit=self.batch_size, lease=self.lease)
            uow.commit()
        report = PublishReport()
        for claim in claims:
            report += self._handle(claim)
        return report

    def drain(self, *, max_rounds: int = 1000) -> PublishReport:
        """``run_once`` until a round finds less than a full batch."""
        report = PublishReport()
        for _ in range(max_rounds):
            round_report = self.run_once()
            report += round_report
            if round_report.handled < self.batch_size:
                break
        return report

    def pending(self) -> int:
        with self.uow() as uow:
            return uow.publish_queue.pending()

    def _handle(self, claim: PublishClaim) -> PublishReport:
        try:
            published = self.publish_site(claim.site_id)
        except Exception as error:
            text = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
            retry_at = self.clock.now() + backoff(claim.attempts + 1, rng=self.rng)
            log.warning("publishing site %s failed (attempt %d): %s", claim.site_id, claim.attempts + 1, text)
            with self.uow() as uow:
                uow.publish_queue.fail(claim, text, retry_at)
                uow.commit()
            return PublishReport(failed=1)
        with self.uow() as uow:
            uow.publish_queue.complete(claim)
            uow.commit()
        return PublishReport(published=1) if published else PublishReport(withdrawn=1)

    # -- one site ----------------------------------------------------------------------

    def publish_site(self, site_id: uuid.UUID) -> bool:
        """Write the site's files as last committed (or remove them when it serves none,
        or does not exist); True when it has files now."""
        with self._reading() as read:
            publication = read(site_id)
        if isinstance(publication, SitePublication):
            self.publisher.publish(publication)
            events.emit("site.published", f"site {publication.slug} published", site_id=site_id)
            return True
        if publication is not None:
            self.publisher.withdraw(site_id, publication)
        return False

    def rebuild(self, *, progress: Callable[[int, int], None] | None = None) -> RebuildReport:
        """Write every site again and remove whatever should not be in the folder."""
        with self.uow() as uow:
            sites = [(site.id, site.slug) for site in uow.sites.list()]
        published = withdrawn = 0
        expected_slugs: dict[str, uuid.UUID] = {}
        expected_hosts: dict[str, uuid.UUID] = {}
        total = len(sites)
        with self._reading() as read:
            for done, (site_id, _slug) in enumerate(sites, start=1):
                publication = read(site_id)
                if isinstance(publication, SitePublication):
                    self.publisher.publish(publication)
                    expected_slugs[publication.slug] = site_id
                    if publication.host is not None:
                        expected_hosts[publication.host] = site_id
                    published += 1
                elif publication is not None:
                    self.publisher.withdraw(site_id, publication)
                    withdrawn += 1
                if progress is not None:
                    progress(done, total)
        inventory = self.publisher.inventory()
        strays = 0
        for slug, owner in inventory.sites.items():
            if expected_slugs.get(slug) != owner:
                self.publisher.remove_slug(slug)
                strays += 1
        for host, owner in inventory.hosts.items():
            if expected_hosts.get(host) != owner:
                self.publisher.remove_host(host)
                strays += 1
        return RebuildReport(published=published, withdrawn=withdrawn, strays=strays)

    @contextmanager
    def _reading(self) -> Iterator[Callable[[uuid.UUID], SitePublication | str | None]]:
        """A reader of publications inside one unit of work (read only, never committed):
        a site's publication, its slug when it serves nothing, None when it is unknown."""
        with self.uow() as uow:
            bodies: dict[str, bytes] = {}

            def body(digest: str) -> bytes:
                data = bodies.get(digest)
                if data is None:
                    data = uow.sites.get_body(digest)
                    if data is None:
                        raise LookupError(f"no stored file has the digest {digest}")
                    if len(bodies) > 256:  # shared files (a common logo) stay; the rest go
                        bodies.clear()
                    bodies[digest] = data
                return data

            def read(site_id: uuid.UUID) -> SitePublication | str | None:
                site = uow.sites.get(site_id)
                if site is None:
                    return None
                mode = policy(site.status).serve
                if mode not in (ServeMode.WITH_BANNER, ServeMode.CLEAN):
                    return site.slug
                version = uow.sites.get_version(site.id, site.current_version)
                if version is None:
                    raise LookupError(f"site {site.slug} has no version {site.current_version}")
                domain = uow.domains.for_site(site.id)
                host = domain.domain if domain is not None and domain.served else None
                banner = mode is ServeMode.WITH_BANNER
                return SitePublication(
                    site_id=site.id,
                    slug=site.slug,
                    files=self._served(site, version, body, banner=banner, root=False),
                    noindex=banner,
                    host=host,
                    host_files=self._served(site, version, body, banner=banner, root=True) if host else {},
                )

            yield read

    def _served(
        self, site: Site, version: SiteVersion, body: Callable[[str], bytes], *, banner: bool, root: bool
    ) -> dict[str, bytes]:
        """Each file's bytes as hosting serves them (``webmagic_http.site_hosting``)."""
        files: dict[str, bytes] = {}
        for file in version.files:
            served = file.root_digest if root else file.slug_digest
            data = body(served)
            if banner and file.content_type.startswith("text/html"):
                data = self.banner.render(
                    data, slug=site.slug, business_name=site.business_name, rewritten=served != file.digest
                )
            files[file.path] = data
        return files
