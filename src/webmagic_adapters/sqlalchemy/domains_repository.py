"""``DomainRepository`` on SQLAlchemy Core, the unit of work that holds it, and the
``HostDirectory`` hosting asks per request."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, delete, select, text

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
from webmagic_adapters.sqlalchemy.site_directory import MAX_CONNECTIONS, SqlSiteDirectory
from webmagic_adapters.sqlalchemy.uow import SqlAlchemyUnitOfWork
from webmagic_core.domains.model import (
    Certificate,
    CertificateStatus,
    CustomDomain,
    DomainEvent,
    DomainEventKind,
    DomainStatus,
)
from webmagic_core.ports import SiteHead

_d = t.custom_domains
_e = t.domain_events
_EVENT_COLUMNS = entity_columns(_e)

_CHANGEABLE = (
    "status",
    "updated_at",
    "verified_at",
    "last_checked_at",
    "grace_ends_at",
    "detail",
    "cert_status",
    "cert_not_after",
    "cert_checked_at",
    "cert_fingerprint",
    "cert_expiry_mailed_for",
)
_INSERT = Insertion(_d)
_UPDATE = updating(_d, _d.c.id, _CHANGEABLE)
_DELETE = delete(_d).where(_d.c.id == bindparam("id"))
_INSERT_EVENT = Insertion(_e)
_FOR_SITE = Lookup(select(_d).where(_d.c.site_id == bindparam("site_id")))
_BY_NAME = Lookup(select(_d).where(_d.c.domain == bindparam("name")))


def _domain(row: AnyRow) -> CustomDomain:
    return CustomDomain(
        id=row.id,
        site_id=row.site_id,
        domain=row.domain,
        token=row.token,
        status=DomainStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        verified_at=row.verified_at,
        last_checked_at=row.last_checked_at,
        grace_ends_at=row.grace_ends_at,
        detail=row.detail,
        certificate=Certificate(
            status=CertificateStatus(row.cert_status),
            not_after=row.cert_not_after,
            checked_at=row.cert_checked_at,
            fingerprint=row.cert_fingerprint,
            expiry_mailed_for=row.cert_expiry_mailed_for,
        ),
    )


def _event(row: AnyRow) -> DomainEvent:
    return DomainEvent(
        id=row.id,
        site_id=row.site_id,
        domain=row.domain,
        kind=DomainEventKind(row.kind),
        detail=row.detail,
        at=row.at,
    )


class SqlAlchemyDomainRepository(SqlAlchemyRepository):
    def add(self, domain: CustomDomain) -> None:
        self._insert_unique(
            _INSERT,
            lambda: self._clash(domain),
            {
                "id": domain.id,
                "site_id": domain.site_id,
                "domain": domain.domain,
                "token": domain.token,
                "created_at": domain.created_at,
                **self._changeable(domain),
            },
        )
        self._flush(domain)

    def _clash(self, domain: CustomDomain) -> str:
        # Which constraint broke: read after the failed insert (the transaction is intact).
        other = self._execute(_BY_NAME.plain, {"name": domain.domain}).first()
        if other is not None and other.site_id != domain.site_id:
            return f"the domain {domain.domain} is already used by another site"
        if self._execute(_FOR_SITE.plain, {"site_id": domain.site_id}).first() is not None:
            return "this site already has a custom domain"
        return f"the domain {domain.domain} could not be saved (taken meanwhile); try again"

    def save(self, domain: CustomDomain) -> None:
        if self._write(_UPDATE, {"_key": domain.id, **self._changeable(domain)}).rowcount == 0:
            raise LookupError(f"domain {domain.id} was never added")
        self._flush(domain)

    def delete(self, domain: CustomDomain) -> None:
        self._write(_DELETE, {"id": domain.id})
        self._flush(domain)

    def _flush(self, domain: CustomDomain) -> None:
        if domain.pending_events:
            self._write(
                _INSERT_EVENT.plain,
                [
                    {
                        "id": e.id,
                        "site_id": e.site_id,
                        "domain": e.domain,
                        "kind": e.kind.value,
                        "detail": e.detail,
                        "at": e.at,
                    }
                    for e in domain.pending_events
                ],
            )
            domain.pending_events.clear()

    @staticmethod
    def _changeable(domain: CustomDomain) -> dict[str, Any]:
        cert = domain.certificate
        return {
            "status": domain.status.value,
            "updated_at": domain.updated_at,
            "verified_at": domain.verified_at,
            "last_checked_at": domain.last_checked_at,
            "grace_ends_at": domain.grace_ends_at,
            "detail": domain.detail,
            "cert_status": cert.status.value,
            "cert_not_after": cert.not_after,
            "cert_checked_at": cert.checked_at,
            "cert_fingerprint": cert.fingerprint,
            "cert_expiry_mailed_for": cert.expiry_mailed_for,
        }

    def for_site(self, site_id: uuid.UUID, *, for_update: bool = False) -> CustomDomain | None:
        row = self._lookup(_FOR_SITE, {"site_id": site_id}, for_update=for_update).first()
        return _domain(row) if row is not None else None

    def by_name(self, name: str, *, for_update: bool = False) -> CustomDomain | None:
        row = self._lookup(_BY_NAME, {"name": name}, for_update=for_update).first()
        return _domain(row) if row is not None else None

    def list(self, *, statuses: frozenset[DomainStatus] | None = None) -> Sequence[CustomDomain]:
        query = select(_d).order_by(_d.c.domain)
        if statuses is not None:
            query = query.where(_d.c.status.in_(sorted(s.value for s in statuses)))
        return [_domain(row) for row in self._execute(query).all()]

    def events(self, *, site_id: uuid.UUID | None = None, domain: str | None = None) -> Sequence[DomainEvent]:
        where = []
        if site_id is not None:
            where.append(_e.c.site_id == site_id)
        if domain is not None:
            where.append(_e.c.domain == domain)
        return [_event(row) for row in self._oldest(_e, _e.c.at, *where)]


class SqlAlchemyDomainUnitOfWork(SqlAlchemyUnitOfWork):
    """The unit of work with ``domains`` as well."""

    def __init__(self, engine: Engine, **options: Any) -> None:
        super().__init__(engine, **options)
        self._domains = SqlAlchemyDomainRepository(self.connection)

    @property
    def domains(self) -> SqlAlchemyDomainRepository:
        return self._domains


def domain_units_of_work(database: Database) -> Callable[[], SqlAlchemyDomainUnitOfWork]:
    """The ``DomainUnitOfWorkFactory`` of a database (same engine and write gate)."""

    def make() -> SqlAlchemyDomainUnitOfWork:
        return database.unit_of_work_of(SqlAlchemyDomainUnitOfWork)

    return make


# The head of the site a served (verified or failing) domain points at: the same columns as
# the slug lookup, so the directory's readers and caching apply unchanged.
_HEAD_BY_HOST = (
    select(t.sites.c.id, t.sites.c.slug, t.sites.c.business_name, t.sites.c.status, t.sites.c.current_version)
    .select_from(_d.join(t.sites, t.sites.c.id == _d.c.site_id))
    .where(_d.c.domain == bindparam("slug"), text("custom_domains.status IN ('verified', 'failing')"))
)


class SqlHostDirectory(SqlSiteDirectory):
    """``HostDirectory``: ``SqlSiteDirectory``'s autocommit readers running the join above.

    A host is looked up exactly as a slug is, so a request by custom domain costs what a
    request by path does: on SQLite the heads read since the last commit (of any process)
    are answered again without a query, and any commit -- a domain verified, lapsed or
    removed -- is seen by the next request; on PostgreSQL it is one round trip."""

    def __init__(self, engine: Engine, *, max_connections: int = MAX_CONNECTIONS) -> None:
        # No in-memory heads: domain changes are not announced (revision 0015 covers slugs).
        super().__init__(engine, max_connections=max_connections, cache_heads=False)
        compiled = _HEAD_BY_HOST.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._positional = compiled.positional

    def head_by_host(self, host: str) -> SiteHead | None:
        return self.head_by_slug(host)
