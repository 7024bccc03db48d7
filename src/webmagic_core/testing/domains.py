"""Fakes for custom domains: DNS, TLS probe, the domain repository and a unit of work
holding it. They pass the same contract suites as the real adapters."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from typing import Self

import attrs

from webmagic_core.domains.model import CustomDomain, DomainEvent, DomainStatus
from webmagic_core.domains.ports import Probe, SeenCertificate, TxtAnswer, TxtLookup
from webmagic_core.errors import Conflict
from webmagic_core.ports import SiteHead
from webmagic_core.testing.fakes import FakeUnitOfWork, _Store


@attrs.define
class FakeDnsResolver:
    """A zone in memory. ``txt`` maps a name to its TXT records (each a list of strings);
    ``names`` are names that exist without TXT records; ``servfail`` and ``timeout`` names
    fail that way. Anything else is NXDOMAIN. ``asked`` records every lookup."""

    txt_records: dict[str, list[list[str]]] = attrs.field(factory=dict)
    names: set[str] = attrs.field(factory=set)
    servfail: set[str] = attrs.field(factory=set)
    timeout: set[str] = attrs.field(factory=set)
    asked: list[str] = attrs.field(factory=list)

    def set_txt(self, name: str, *values: str) -> None:
        self.txt_records[name.lower()] = [[value] for value in values]

    def clear(self, name: str) -> None:
        self.txt_records.pop(name.lower(), None)

    def txt(self, name: str) -> TxtLookup:
        name = name.lower().rstrip(".")
        self.asked.append(name)
        if name in self.timeout:
            return TxtLookup(TxtAnswer.TIMEOUT)
        if name in self.servfail:
            return TxtLookup(TxtAnswer.SERVFAIL)
        records = self.txt_records.get(name)
        if records:
            return TxtLookup(TxtAnswer.ANSWER, tuple("".join(strings) for strings in records))
        if name in self.names or records is not None:
            return TxtLookup(TxtAnswer.NO_ANSWER)
        return TxtLookup(TxtAnswer.NXDOMAIN)


@attrs.define
class FakeCertificateProbe:
    """Certificates by domain; a domain not listed fails like a closed port."""

    certificates: dict[str, SeenCertificate] = attrs.field(factory=dict)
    probed: list[str] = attrs.field(factory=list)

    def probe(self, domain: str) -> Probe:
        self.probed.append(domain)
        seen = self.certificates.get(domain)
        if seen is None:
            return Probe(None, error=f"could not connect to {domain}: connection refused")
        return Probe(seen)


@attrs.define
class _DomainStore:
    domains: dict[uuid.UUID, CustomDomain] = attrs.field(factory=dict)
    events: list[DomainEvent] = attrs.field(factory=list)


def _detached(domain: CustomDomain) -> CustomDomain:
    return attrs.evolve(domain, certificate=attrs.evolve(domain.certificate), pending_events=[])


@attrs.define
class FakeDomainRepository:
    store: _DomainStore

    def add(self, domain: CustomDomain) -> None:
        for other in self.store.domains.values():
            if other.domain == domain.domain:
                raise Conflict(f"the domain {domain.domain} is already used by another site")
            if other.site_id == domain.site_id:
                raise Conflict("this site already has a custom domain")
            if other.token == domain.token:
                raise Conflict("this verification token is taken")
        self.store.domains[domain.id] = _detached(domain)
        self._flush(domain)

    def save(self, domain: CustomDomain) -> None:
        if domain.id not in self.store.domains:
            raise LookupError(f"domain {domain.id} was never added")
        self.store.domains[domain.id] = _detached(domain)
        self._flush(domain)

    def delete(self, domain: CustomDomain) -> None:
        self.store.domains.pop(domain.id, None)
        self._flush(domain)

    def _flush(self, domain: CustomDomain) -> None:
        self.store.events.extend(domain.pending_events)
        domain.pending_events.clear()

    def for_site(self, site_id: uuid.UUID, *, for_update: bool = False) -> CustomDomain | None:
        found = [d for d in self.store.domains.values() if d.site_id == site_id]
        return _detached(found[0]) if found else None

    def by_name(self, name: str, *, for_update: bool = False) -> CustomDomain | None:
        found = [d for d in self.store.domains.values() if d.domain == name]
        return _detached(found[0]) if found else None

    def list(self, *, statuses: frozenset[DomainStatus] | None = None) -> Sequence[CustomDomain]:
        found = [d for d in self.store.domains.values() if statuses is None or d.status in statuses]
        return [_detached(d) for d in sorted(found, key=lambda d: d.domain)]

    def events(self, *, site_id: uuid.UUID | None = None, domain: str | None = None) -> Sequence[DomainEvent]:
        found = [
            e
            for e in self.store.events
            if (site_id is None or e.site_id == site_id) and (domain is None or e.domain == domain)
        ]
        return sorted(found, key=lambda e: e.at)


@attrs.define
class FakeDomainUnitOfWork(FakeUnitOfWork):
    """``FakeUnitOfWork`` with ``domains``; the domain store is rolled back with the rest."""

    domain_store: _DomainStore = attrs.field(factory=_DomainStore)
    domains: FakeDomainRepository = attrs.field(init=False)
    _domain_snapshot: _DomainStore | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.domains = FakeDomainRepository(self.domain_store)

    def __enter__(self) -> Self:
        self._domain_snapshot = copy.deepcopy(self.domain_store)
        return super().__enter__()

    def __exit__(self, *exc: object) -> None:
        super().__exit__(None, None, None)
        if self._domain_snapshot is not None:
            self._restore_domains(self._domain_snapshot)
            self._domain_snapshot = None

    def commit(self) -> None:
        super().commit()
        if self._domain_snapshot is not None:
            self._domain_snapshot = copy.deepcopy(self.domain_store)

    def rollback(self) -> None:
        super().rollback()
        if self._domain_snapshot is not None:
            self._restore_domains(self._domain_snapshot)
            self._domain_snapshot = copy.deepcopy(self.domain_store)

    def _restore_domains(self, snapshot: _DomainStore) -> None:
        self.domain_store.domains = snapshot.domains
        self.domain_store.events = snapshot.events


@attrs.define
class FakeDomainUnitOfWorkFactory:
    """Units of work over one shared store, domains included."""

    store: _Store = attrs.field(factory=_Store)
    domain_store: _DomainStore = attrs.field(factory=_DomainStore)

    def __call__(self) -> FakeDomainUnitOfWork:
        return FakeDomainUnitOfWork(store=self.store, domain_store=self.domain_store)


@attrs.define
class FakeHostDirectory:
    """``HostDirectory`` over a fake store: what the SQL join answers."""

    factory: FakeDomainUnitOfWorkFactory

    def head_by_host(self, host: str) -> SiteHead | None:
        for domain in self.factory.domain_store.domains.values():
            if domain.domain == host and domain.served:
                site = self.factory.store.sites.get(domain.site_id)
                if site is None:
                    return None
                return SiteHead(
                    id=site.id,
                    slug=site.slug,
                    business_name=site.business_name,
                    status=site.status,
                    current_version=site.current_version,
                )
        return None
