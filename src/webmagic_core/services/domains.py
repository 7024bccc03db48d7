"""Custom domains: attach, prove control through DNS, re-verify, watch certificates.

DNS lookups and TLS handshakes never run inside a transaction: the service looks first,
then opens a unit of work, re-reads the domain under a lock and applies the outcome only
if it is still the same domain (same id and token) -- a domain replaced or removed
meanwhile is left alone. Several checkers (the server's task, ``webmagic domains check``
from cron, other instances) may therefore run at once; at worst a name is looked up twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence

import attrs

from webmagic_core import events
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.domains.model import (
    SERVED_STATUSES,
    CertificateStatus,
    CustomDomain,
    DomainEvent,
    DomainEventKind,
    DomainStatus,
    Proof,
    certificate_status,
)
from webmagic_core.domains.ports import (
    CertificateProbe,
    DnsResolver,
    DomainNormalizer,
    DomainUnitOfWork,
    DomainUnitOfWorkFactory,
    HostDirectory,
    TxtAnswer,
    TxtLookup,
)
from webmagic_core.errors import Conflict, NotFound
from webmagic_core.lifecycle import SiteStatus, policy
from webmagic_core.ports import Clock
from webmagic_core.services.outbox import queue_email
from webmagic_core.services.publishing import request_publish
from webmagic_core.services.sites import NOT_FOUND, Resolution
from webmagic_core.services.timeline import TimelineEntry, TimelineKind
from webmagic_core.sites import Site

log = logging.getLogger(__name__)

# Sites whose owner may attach, replace or verify a domain (docs/api.md: suspended -> 409).
DOMAIN_STATUSES = frozenset(s for s in SiteStatus if policy(s).custom_domain_allowed)
NO_DOMAIN = "this site has no custom domain"
# Found values quoted in ``detail`` are cut to this length (they are the owner's own DNS).
MAX_QUOTED = 60


def new_token() -> str:
    """256 random bits, URL-safe: unique per site and domain, never handed out twice."""
    return secrets.token_urlsafe(32)


@attrs.frozen
class DomainConfig:
    cnames_to: str  # the sites host the owner's CNAME points at
    grace: dt.timedelta  # WEBMAGIC_DOMAIN_GRACE_HOURS
    site_url: Callable[[str], str]  # slug -> where the site is served by path
    manage_url: Callable[[str], str]  # slug -> the owner's page for the site
    admin_email: str | None = None
    # WebMagic's own host names (public URL, sites URL, sites domain): never custom domains.
    own_hosts: frozenset[str] = frozenset()


@attrs.frozen
class DnsRecord:
    type: str
    name: str
    value: str


def dns_records(domain: CustomDomain, cnames_to: str) -> tuple[DnsRecord, DnsRecord]:
    """Exactly what the owner creates: the TXT proof and the CNAME that routes to us."""
    return (
        DnsRecord("TXT", domain.challenge_name, domain.token),
        DnsRecord("CNAME", domain.domain, cnames_to),
    )


def judge(lookup: TxtLookup, name: str, token: str) -> tuple[Proof, str]:
    """Whether a TXT lookup proves control, and a sentence an owner understands."""
    match lookup.answer:
        case TxtAnswer.ANSWER:
            values = [value.strip() for value in lookup.records]
            if token in values:
                return Proof.FOUND, f"The TXT record {name} holds the verification value."
            shown = ", ".join(repr(_cut(value)) for value in values[:3]) + (" ..." if len(values) > 3 else "")
            plural = "s" if len(values) != 1 else ""
            return Proof.ABSENT, (
                f"Found {len(values)} TXT record{plural} at {name} ({shown}), but none holds the "
                "verification value shown in the DNS records; correct it and verify again."
            )
        case TxtAnswer.NXDOMAIN:
            return Proof.ABSENT, (
                f"No DNS record named {name} exists yet. Create the TXT record shown (DNS changes "
                "can take a while to appear), then verify again."
            )
        case TxtAnswer.NO_ANSWER:
            return Proof.ABSENT, (
                f"The name {name} exists but has no TXT record. Add the TXT record shown, then verify again."
            )
        case TxtAnswer.TIMEOUT:
            return Proof.INCONCLUSIVE, (
                f"The DNS servers did not answer in time when we looked up {name}. "
                "This is usually temporary; try again in a few minutes."
            )
        case TxtAnswer.SERVFAIL:
            return Proof.INCONCLUSIVE, (
                f"The DNS servers failed to answer for {name} (SERVFAIL). This often means a "
                "misconfiguration at the DNS provider (nameservers or DNSSEC); check it, then verify again."
            )


def _cut(value: str) -> str:
    return value if len(value) <= MAX_QUOTED else value[: MAX_QUOTED - 1] + "…"


def resolve_head_for_host(directory: HostDirectory, host: str) -> Resolution:
    """What hosting serves for a custom-domain ``Host``: the site of a verified or failing
    domain, following the lifecycle table; an archived site is not found."""
    head = directory.head_by_host(host)
    if head is None or head.status is SiteStatus.ARCHIVED:
        return NOT_FOUND
    return Resolution(mode=policy(head.status).serve, site=head)


@attrs.frozen
class DomainView:
    """A domain with the site it belongs to (operators' listing)."""

    domain: CustomDomain
    slug: str


@attrs.frozen
class DomainHistory:
    domain: CustomDomain
    slug: str
    events: Sequence[DomainEvent]


@attrs.define
class CheckReport:
    checked: int = 0
    verified: int = 0
    failing: int = 0
    lapsed: int = 0
    inconclusive: int = 0
    certificates: dict[str, int] = attrs.field(factory=dict)
    errors: list[str] = attrs.field(factory=list)


@attrs.define
class DomainService:
    uow: DomainUnitOfWorkFactory
    clock: Clock
    resolver: DnsResolver
    probe: CertificateProbe
    normalize: DomainNormalizer
    config: DomainConfig
    directory: HostDirectory | None = None
    token_factory: Callable[[], str] = new_token

    # The owner's side (API and portal) ---------------------------------------------

    def attach(self, customer_id: uuid.UUID, slug: str, raw_name: str) -> CustomDomain:
        """Give the site this domain (``pending``), replacing any other it had. The same
        name again keeps the domain as it is (its proof and status)."""
        name = self.normalize(raw_name)
        now = self.clock.now()
        with self.uow() as uow:
            site = self._owned_site(uow, customer_id, slug, for_update=True)
            current = uow.domains.for_site(site.id, for_update=True)
            if current is not None and current.domain == name:
                return current
            if current is not None:
                current.record(DomainEventKind.REMOVED, f"replaced by {name}", now)
                uow.domains.delete(current)
                if current.served:
                    request_publish(uow, site.id, now)
            domain = CustomDomain.new(site_id=site.id, domain=name, token=self.token_factory(), now=now)
            uow.domains.add(domain)  # Conflict when another site holds the name
            uow.commit()
        return domain

    def get(self, customer_id: uuid.UUID, slug: str) -> CustomDomain:
        with self.uow() as uow:
            site = self._owned_site(uow, customer_id, slug, allow_any_status=True)
            domain = uow.domains.for_site(site.id)
        if domain is None:
            raise NotFound(NO_DOMAIN)
        return domain

    def for_site(self, site_id: uuid.UUID) -> CustomDomain | None:
        with self.uow() as uow:
            return uow.domains.for_site(site_id)

    def verify(self, customer_id: uuid.UUID, slug: str) -> CustomDomain:
        """Look the TXT record up now and apply what it says (``pending`` stays pending
        with ``detail`` saying what was found)."""
        with self.uow() as uow:
            site = self._owned_site(uow, customer_id, slug)
            domain = uow.domains.for_site(site.id)
        if domain is None:
            raise NotFound(NO_DOMAIN)
        proof, detail = judge(self.resolver.txt(domain.challenge_name), domain.challenge_name, domain.token)
        applied = self._apply_proof(domain, proof, detail)
        if applied is None:
            raise Conflict("the custom domain was replaced or removed meanwhile; reload and try again")
        return applied

    def remove(self, customer_id: uuid.UUID, slug: str) -> None:
        """Drop the domain: it stops being served on the next request."""
        now = self.clock.now()
        with self.uow() as uow:
            site = self._owned_site(uow, customer_id, slug, allow_any_status=True)
            domain = uow.domains.for_site(site.id, for_update=True)
            if domain is None:
                raise NotFound(NO_DOMAIN)
            domain.record(DomainEventKind.REMOVED, "removed by the owner", now)
            uow.domains.delete(domain)
            if domain.served:
                request_publish(uow, site.id, now)
            uow.commit()

    def remove_by_name(self, raw_name: str, *, reason: str = "removed by an operator") -> str:
        """An operator's removal (any site, archived ones included: their names are freed);
        returns the site's slug."""
        name = raw_name.strip().lower().rstrip(".")
        now = self.clock.now()
        with self.uow() as uow:
            domain = uow.domains.by_name(name, for_update=True)
            if domain is None:
                raise NotFound(f"no site has the custom domain {raw_name!r}")
            slug = self._slug(uow, domain.site_id)
            domain.record(DomainEventKind.REMOVED, reason, now)
            uow.domains.delete(domain)
            if domain.served:
                request_publish(uow, domain.site_id, now)
            uow.commit()
        return slug

    # The TLS front and hosting ---------------------------------------------------

    def may_have_certificate(self, name: str) -> bool:
        """Caddy's ``ask``: only a verified or failing domain of a site that is not
        archived. No DNS lookup: the answer comes from what was last proved."""
        host = name.strip().lower().rstrip(".")
        if not host:
            return False
        if self.directory is not None:
            head = self.directory.head_by_host(host)
            return head is not None and head.status is not SiteStatus.ARCHIVED
        with self.uow() as uow:
            domain = uow.domains.by_name(host)
            if domain is None or not domain.served:
                return False
            site = uow.sites.get(domain.site_id)
        return site is not None and site.status is not SiteStatus.ARCHIVED

    # Operators and the periodic check ---------------------------------------------

    def list_all(self) -> Sequence[DomainView]:
        with self.uow() as uow:
            domains = uow.domains.list()
            slugs = {d.site_id: self._slug(uow, d.site_id) for d in domains}
        return [DomainView(d, slugs[d.site_id]) for d in domains]

    def history(self, raw_name: str) -> DomainHistory:
        name = raw_name.strip().lower().rstrip(".")
        with self.uow() as uow:
            domain = uow.domains.by_name(name)
            if domain is None:
                try:
                    domain = uow.domains.by_name(self.normalize(raw_name))
                except Exception:
                    domain = None
            if domain is None:
                raise NotFound(f"no site has the custom domain {raw_name!r}")
            events = uow.domains.events(domain=domain.domain)
            slug = self._slug(uow, domain.site_id)
        return DomainHistory(domain, slug, [e for e in events if e.at >= domain.created_at])

    def timeline(self, site_id: uuid.UUID) -> list[TimelineEntry]:
        """A site's domain history for its timeline (``TimelineSource``), routine DNS
        checks left out (``webmagic domains show`` lists them)."""
        with self.uow() as uow:
            events = uow.domains.events(site_id=site_id)
        return timeline_entries(e for e in events if e.kind is not DomainEventKind.CHECKED)

    def due(self, name: str | None = None) -> Sequence[CustomDomain]:
        """What a check round looks at: every verified or failing domain, or one by name."""
        with self.uow() as uow:
            if name is None:
                return uow.domains.list(statuses=SERVED_STATUSES)
            domain = uow.domains.by_name(name.strip().lower().rstrip("."))
        if domain is None:
            raise NotFound(f"no site has the custom domain {name!r}")
        return [domain]

    def check(
        self, name: str | None = None, *, progress: Callable[[CustomDomain], None] | None = None
    ) -> CheckReport:
        """Re-verify every served domain (or one, in any status) and probe the
        certificates of those still served. One domain's fault never stops the round."""
        report = CheckReport()
        for domain in self.due(name):
            try:
                self.check_one(domain, report)
            except Exception as error:
                log.warning("checking %s failed: %s", domain.domain, type(error).__name__)
                report.errors.append(f"{domain.domain}: {error}")
            if progress is not None:
                progress(domain)
        return report

    def check_one(self, domain: CustomDomain, report: CheckReport | None = None) -> CustomDomain | None:
        report = report if report is not None else CheckReport()
        proof, detail = judge(self.resolver.txt(domain.challenge_name), domain.challenge_name, domain.token)
        report.checked += 1
        if proof is Proof.INCONCLUSIVE:
            report.inconclusive += 1
        updated = self._apply_proof(domain, proof, detail)
        if updated is None:
            return None
        if updated.status is DomainStatus.VERIFIED:
            report.verified += 1
        elif updated.status is DomainStatus.FAILING:
            report.failing += 1
        elif updated.status is DomainStatus.LAPSED:
            report.lapsed += 1
        if updated.served:
            updated = self._check_certificate(updated) or updated
            status = updated.certificate.status.value
            report.certificates[status] = report.certificates.get(status, 0) + 1
        return updated

    # Internals -----------------------------------------------------------------------

    def _apply_proof(self, seen: CustomDomain, proof: Proof, detail: str) -> CustomDomain | None:
        now = self.clock.now()
        with self.uow() as uow:
            domain = uow.domains.for_site(seen.site_id, for_update=True)
            if domain is None or domain.id != seen.id or domain.token != seen.token:
                return None
            changed = domain.record_proof(proof, detail, now=now, grace=self.config.grace)
            if changed in (DomainStatus.FAILING, DomainStatus.LAPSED):
                self._mail_owner(uow, domain, changed, now)
            if changed is not None:
                uow.after_commit(functools.partial(_announce_domain, domain, changed))
                request_publish(uow, domain.site_id, now)  # served from now on, or no longer
            uow.domains.save(domain)
            uow.commit()
        return domain

    def _check_certificate(self, seen: CustomDomain) -> CustomDomain | None:
        probe = self.probe.probe(seen.domain)
        now = self.clock.now()
        if probe.certificate is None:
            status, not_after, fingerprint = CertificateStatus.UNKNOWN, None, None
            detail = f"no certificate could be read: {probe.error or 'no answer'}"
        else:
            cert = probe.certificate
            status = certificate_status(matches=cert.matches, not_after=cert.not_after, now=now)
            not_after, fingerprint = cert.not_after, cert.fingerprint
            detail = f"certificate valid until {cert.not_after.isoformat()}" + (
                "" if cert.matches else f", not issued for {seen.domain}"
            )
        with self.uow() as uow:
            domain = uow.domains.for_site(seen.site_id, for_update=True)
            if domain is None or domain.id != seen.id or not domain.served:
                return None
            mail = domain.record_certificate(
                status=status, not_after=not_after, fingerprint=fingerprint, now=now, detail=detail
            )
            if mail and not_after is not None:
                self._mail_expiring(uow, domain, not_after, now)
            uow.domains.save(domain)
            uow.commit()
        return domain

    def _mail_owner(
        self, uow: DomainUnitOfWork, domain: CustomDomain, status: DomainStatus, now: dt.datetime
    ) -> None:
        site = uow.sites.get(domain.site_id)
        owner = uow.customers.get(site.owner_id) if site is not None and site.owner_id else None
        if site is None or owner is None:
            return
        data: dict[str, object] = {
            "full_name": owner.full_name,
            "business_name": site.business_name,
            "domain": domain.domain,
            "record_name": domain.challenge_name,
            "record_value": domain.token,
            "manage_url": self.config.manage_url(site.slug),
        }
        if status is DomainStatus.FAILING:
            assert domain.grace_ends_at is not None
            template = EmailTemplate.DOMAIN_FAILING
            data["grace_ends_at"] = domain.grace_ends_at
        else:
            template = EmailTemplate.DOMAIN_LAPSED
            data["site_url"] = self.config.site_url(site.slug)
        queue_email(uow, template, owner.email, data, now, site_id=site.id)

    def _mail_expiring(
        self, uow: DomainUnitOfWork, domain: CustomDomain, not_after: dt.datetime, now: dt.datetime
    ) -> None:
        site = uow.sites.get(domain.site_id)
        if site is None:
            return
        owner = uow.customers.get(site.owner_id) if site.owner_id else None
        data: dict[str, object] = {
            "business_name": site.business_name,
            "domain": domain.domain,
            "not_after": not_after,
        }
        recipients: list[tuple[str, dict[str, object]]] = []
        if owner is not None:
            recipients.append((owner.email, {**data, "full_name": owner.full_name}))
        if self.config.admin_email:
            recipients.append((self.config.admin_email, data))
        for to, values in recipients:
            queue_email(uow, EmailTemplate.CERTIFICATE_EXPIRING, to, values, now, site_id=site.id)

    @staticmethod
    def _slug(uow: DomainUnitOfWork, site_id: uuid.UUID) -> str:
        site = uow.sites.get(site_id)
        return site.slug if site is not None else "?"

    @staticmethod
    def _owned_site(
        uow: DomainUnitOfWork,
        customer_id: uuid.UUID,
        slug: str,
        *,
        for_update: bool = False,
        allow_any_status: bool = False,
    ) -> Site:
        site = uow.sites.get_by_slug(slug, for_update=for_update)
        if site is None or site.owner_id != customer_id or site.status is SiteStatus.ARCHIVED:
            raise NotFound(f"no site has the slug {slug!r}")
        if not allow_any_status and site.status not in DOMAIN_STATUSES:
            raise Conflict(
                "a custom domain needs a site that is owned, active or past due; "
                f"this one is {site.status.value}"
            )
        return site


def timeline_entries(events: Iterable[DomainEvent]) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            at=event.at,
            kind=TimelineKind.DOMAIN,
            summary=f"domain {event.domain}: {event.kind.value.replace('_', ' ')} ({event.detail})",
        )
        for event in events
    ]


def _announce_domain(domain: CustomDomain, status: DomainStatus) -> None:
    level = logging.INFO if status is DomainStatus.VERIFIED else logging.WARNING
    events.emit(
        f"domain.{status.value}",
        f"custom domain {domain.domain} is {status.value}",
        level=level,
        domain_id=domain.id,
        site_id=domain.site_id,
        domain=domain.domain,
        status=status.value,
        grace_ends_at=domain.grace_ends_at,
    )
