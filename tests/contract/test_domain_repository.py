"""The DomainRepository port (and the HostDirectory read): one suite for the fake, SQLite
and PostgreSQL; and the race for one name on the real databases."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.domains_repository import SqlHostDirectory, domain_units_of_work
from webmagic_core.domains.model import CertificateStatus, CustomDomain, DomainEventKind, DomainStatus, Proof
from webmagic_core.domains.ports import DomainUnitOfWork, HostDirectory
from webmagic_core.errors import Conflict
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.sites import Actor, Site
from webmagic_core.testing.domains import FakeDomainUnitOfWorkFactory, FakeHostDirectory

T0 = dt.datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)
GRACE = dt.timedelta(hours=168)

Factory = Callable[[], DomainUnitOfWork]


def open_database(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> Database:
    """A migrated SQLite file or a fresh PostgreSQL schema (as conftest's backends)."""
    if name == "sqlite":
        url = f"sqlite:///{(tmp_path / 'data' / 'webmagic.db').as_posix()}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    request.addfinalizer(database.dispose)
    database.upgrade()
    return database


@attrs.define
class Domains:
    uow: Factory
    directory: HostDirectory


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def domains(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Domains]:
    if request.param == "fake":
        fake = FakeDomainUnitOfWorkFactory()
        yield Domains(fake, FakeHostDirectory(fake))
        return
    database = open_database(request, request.param, tmp_path)
    directory = SqlHostDirectory(database.engine)
    yield Domains(domain_units_of_work(database), directory)
    directory.close()


def add_site(uow: Factory, slug: str, status: SiteStatus = SiteStatus.OWNED) -> Site:
    site = Site.new_preview(slug=slug, business_name=slug.title(), now=T0, actor=Actor.ADMIN, cause="test")
    if status is not SiteStatus.PREVIEW:
        site.apply(Trigger.PURCHASE_PAID, cause="test", actor=Actor.SYSTEM, at=T0)
    with uow() as u:
        u.sites.add(site)
        u.commit()
    return site


def new_domain(site: Site, name: str) -> CustomDomain:
    return CustomDomain.new(site_id=site.id, domain=name, token=uuid.uuid4().hex, now=T0)


def test_a_domain_round_trips_with_its_events(domains: Domains) -> None:
    site = add_site(domains.uow, "bakery")
    domain = new_domain(site, "www.bakery.test")
    with domains.uow() as u:
        u.domains.add(domain)
        u.commit()
    with domains.uow() as u:
        got = u.domains.for_site(site.id)
        assert got == domain
        assert u.domains.by_name("www.bakery.test") == domain
        assert u.domains.by_name("bakery.test") is None
        assert [e.kind for e in u.domains.events(site_id=site.id)] == [DomainEventKind.ATTACHED]


def test_save_writes_status_times_and_certificate(domains: Domains) -> None:
    site = add_site(domains.uow, "bakery")
    domain = new_domain(site, "www.bakery.test")
    with domains.uow() as u:
        u.domains.add(domain)
        u.commit()
    later = T0 + dt.timedelta(hours=1)
    domain.record_proof(Proof.FOUND, "found", now=later, grace=GRACE)
    domain.record_certificate(
        status=CertificateStatus.EXPIRING,
        not_after=later + dt.timedelta(days=3),
        fingerprint="ab" * 32,
        now=later,
        detail="soon",
    )
    with domains.uow() as u:
        u.domains.save(domain)
        u.commit()
    with domains.uow() as u:
        got = u.domains.for_site(site.id, for_update=True)
        assert got == domain
        assert got is not None
        assert got.certificate.expiry_mailed_for == "ab" * 32
        kinds = [e.kind for e in u.domains.events(domain="www.bakery.test")]
    assert kinds == [
        DomainEventKind.ATTACHED,
        DomainEventKind.CHECKED,
        DomainEventKind.VERIFIED,
        DomainEventKind.CERTIFICATE,
        DomainEventKind.CERTIFICATE_EXPIRING,
    ]


def test_save_of_a_domain_never_added_is_a_lookup_error(domains: Domains) -> None:
    site = add_site(domains.uow, "bakery")
    with domains.uow() as u, pytest.raises(LookupError):
        u.domains.save(new_domain(site, "www.bakery.test"))


def test_a_name_belongs_to_one_site(domains: Domains) -> None:
    first, second = add_site(domains.uow, "bakery"), add_site(domains.uow, "plumber")
    with domains.uow() as u:
        u.domains.add(new_domain(first, "shop.test"))
        u.commit()
    with domains.uow() as u:
        with pytest.raises(Conflict, match="another site"):
            u.domains.add(new_domain(second, "shop.test"))
        # The transaction is still usable after the clash.
        u.domains.add(new_domain(second, "other.test"))
        u.commit()
    with domains.uow() as u:
        assert [d.domain for d in u.domains.list()] == ["other.test", "shop.test"]


def test_a_site_has_at_most_one_domain(domains: Domains) -> None:
    site = add_site(domains.uow, "bakery")
    with domains.uow() as u:
        u.domains.add(new_domain(site, "a.test"))
        u.commit()
    with domains.uow() as u, pytest.raises(Conflict, match="already has"):
        u.domains.add(new_domain(site, "b.test"))


def test_delete_frees_the_name_and_keeps_the_history(domains: Domains) -> None:
    first, second = add_site(domains.uow, "bakery"), add_site(domains.uow, "plumber")
    domain = new_domain(first, "shop.test")
    with domains.uow() as u:
        u.domains.add(domain)
        u.commit()
    domain.record(DomainEventKind.REMOVED, "removed", T0 + dt.timedelta(minutes=1))
    with domains.uow() as u:
        u.domains.delete(domain)
        u.commit()
    with domains.uow() as u:
        assert u.domains.for_site(first.id) is None
        u.domains.add(new_domain(second, "shop.test"))
        u.commit()
    with domains.uow() as u:
        assert [e.kind for e in u.domains.events(site_id=first.id)] == [
            DomainEventKind.ATTACHED,
            DomainEventKind.REMOVED,
        ]


def test_rollback_undoes_an_add(domains: Domains) -> None:
    site = add_site(domains.uow, "bakery")
    with domains.uow() as u:
        u.domains.add(new_domain(site, "shop.test"))
    with domains.uow() as u:
        assert u.domains.for_site(site.id) is None
        assert u.domains.events(site_id=site.id) == []


def test_list_filters_by_status(domains: Domains) -> None:
    a, b = add_site(domains.uow, "aaa"), add_site(domains.uow, "bbb")
    verified = new_domain(a, "a.test")
    verified.record_proof(Proof.FOUND, "found", now=T0, grace=GRACE)
    with domains.uow() as u:
        u.domains.add(verified)
        u.domains.add(new_domain(b, "b.test"))
        u.commit()
    with domains.uow() as u:
        served = u.domains.list(statuses=frozenset({DomainStatus.VERIFIED, DomainStatus.FAILING}))
        assert [d.domain for d in served] == ["a.test"]
        assert len(u.domains.list()) == 2


def test_the_host_directory_sees_only_served_domains_and_every_commit(domains: Domains) -> None:
    site = add_site(domains.uow, "bakery")
    domain = new_domain(site, "shop.test")
    with domains.uow() as u:
        u.domains.add(domain)
        u.commit()
    assert domains.directory.head_by_host("shop.test") is None  # pending
    for proof, served in ((Proof.FOUND, True), (Proof.ABSENT, True)):
        domain.record_proof(proof, "x", now=T0, grace=dt.timedelta(0))
        with domains.uow() as u:
            u.domains.save(domain)
            u.commit()
        head = domains.directory.head_by_host("shop.test")
        assert (head is not None and head.slug == "bakery") is served
    domain.record_proof(Proof.ABSENT, "x", now=T0, grace=dt.timedelta(0))  # grace over: lapsed
    assert domain.status is DomainStatus.LAPSED
    with domains.uow() as u:
        u.domains.save(domain)
        u.commit()
    assert domains.directory.head_by_host("shop.test") is None
    assert domains.directory.head_by_host("bakery") is None  # a slug is not a host


@pytest.mark.parametrize("name", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_sites_racing_for_one_name_exactly_one_wins(
    request: pytest.FixtureRequest, tmp_path: Path, name: str
) -> None:
    database = open_database(request, name, tmp_path)
    uow = domain_units_of_work(database)
    sites = [add_site(uow, f"site-{i}") for i in range(4)]
    barrier = threading.Barrier(len(sites))
    outcomes: list[str] = []

    def claim(site: Site) -> None:
        with uow() as u:
            barrier.wait()
            try:
                u.domains.add(new_domain(site, "contested.test"))
                u.commit()
                outcomes.append("won")
            except Conflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=claim, args=(site,)) for site in sites]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 3 + ["won"]
    with uow() as u:
        assert len(u.domains.list()) == 1
