"""What custom domains need from the outside world: DNS, a TLS handshake, storage."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

from webmagic_core.domains.model import CustomDomain, DomainEvent, DomainStatus
from webmagic_core.ports import SiteHead, UnitOfWork


class TxtAnswer(enum.Enum):
    ANSWER = "answer"  # one or more TXT records
    NXDOMAIN = "nxdomain"  # the name does not exist
    NO_ANSWER = "no_answer"  # the name exists, without TXT records
    TIMEOUT = "timeout"  # no server answered in time
    SERVFAIL = "servfail"  # the servers answered with a failure (SERVFAIL, REFUSED...)


@attrs.frozen
class TxtLookup:
    """The TXT records at a name: each record's strings joined, as RFC 7208 reads them."""

    answer: TxtAnswer
    records: tuple[str, ...] = ()


class DnsResolver(Protocol):
    def txt(self, name: str) -> TxtLookup:
        """The TXT records at ``name`` (absolute, no trailing dot). Never raises for a DNS
        outcome: NXDOMAIN, no answer, timeout and failure are answers too."""
        ...


@attrs.frozen
class SeenCertificate:
    not_after: dt.datetime
    # Whether a name of the certificate (SAN DNS names, wildcards for one label) covers the domain.
    matches: bool
    fingerprint: str  # SHA-256 of the DER, hex


@attrs.frozen
class Probe:
    """A TLS handshake's outcome: the certificate, or why there is none."""

    certificate: SeenCertificate | None
    error: str | None = None


class CertificateProbe(Protocol):
    def probe(self, domain: str) -> Probe:
        """Handshake with SNI ``domain`` and report the certificate served; never raises
        for a network or TLS failure (``Probe(None, error=...)``)."""
        ...


class DomainRepository(Protocol):
    """One custom domain per site; a name belongs to one site (unique constraints)."""

    def add(self, domain: CustomDomain) -> None:
        """Insert, with its pending events. ``Conflict`` when the name is another site's
        or the site already has a domain (decided by the database, not a prior read)."""
        ...

    def save(self, domain: CustomDomain) -> None:
        """Write status, times, detail and certificate, and the pending events
        (``LookupError`` if never added)."""
        ...

    def delete(self, domain: CustomDomain) -> None:
        """Remove it and write its pending events, which outlive it."""
        ...

    def for_site(self, site_id: uuid.UUID, *, for_update: bool = False) -> CustomDomain | None: ...

    def by_name(self, name: str, *, for_update: bool = False) -> CustomDomain | None: ...

    def list(self, *, statuses: frozenset[DomainStatus] | None = None) -> Sequence[CustomDomain]:
        """By name, optionally only those in ``statuses``."""
        ...

    def events(self, *, site_id: uuid.UUID | None = None, domain: str | None = None) -> Sequence[DomainEvent]:
        """History, oldest first, of a site's domains and/or of one name."""
        ...


class DomainUnitOfWork(UnitOfWork, Protocol):
    @property
    def domains(self) -> DomainRepository: ...


class DomainUnitOfWorkFactory(Protocol):
    def __call__(self) -> DomainUnitOfWork: ...


class HostDirectory(Protocol):
    """The hosting hot path's read for a request's ``Host``, like ``SiteDirectory``'s by
    slug: the head of the site a ``verified`` or ``failing`` domain serves, as last committed."""

    def head_by_host(self, host: str) -> SiteHead | None: ...


DomainNormalizer = Callable[[str], str]
