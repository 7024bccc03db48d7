"""One winner, on SQLite and PostgreSQL: two buyers starting a purchase of one site at once.

Each buyer runs in its own thread on its own ``Database`` (as two server processes would).
A row lock is invisible to a test that merely starts two threads together: the window
between reading "nobody holds the site" and committing the hold is too short to hit by
chance. So both transactions are made to meet (``Rendezvous``) right before they write: with
the lock, the second buyer is still waiting for the site row, the first goes ahead alone
after a short wait and the second then sees the hold; without it both meet, both write, and
the site is held twice. Each race is repeated, so a missing lock fails every run.

The other "one winner" promises have their own races: webhook apply
(test_webhook_concurrency.py), edit approval (test_edit_approval_race.py), relay claims
(test_outbox_claims.py) and domain checks (test_domain_checks_concurrent.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import attrs
import pytest
from contract_support import TEST_KEYS
from test_webhook_concurrency import CLOCK, App, app

from webmagic_adapters.domain_names import domain_normalizer
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.domains_repository import domain_units_of_work
from webmagic_core.accounts.customers import Customer
from webmagic_core.domains.model import CustomDomain
from webmagic_core.errors import Conflict, NotFound
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.ports import UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.domains import DomainConfig, DomainService
from webmagic_core.services.purchases import CheckoutStarted
from webmagic_core.sites import Actor, Site, SiteContent
from webmagic_core.testing.domains import FakeCertificateProbe, FakeDnsResolver
from webmagic_core.testing.payments import FakePaymentGateway

ROUNDS = 6


class Rendezvous:
    """Lets ``parties`` threads meet at one point, each waiting at most ``patience`` seconds:
    a thread held up elsewhere (by a lock) is not waited for forever."""

    def __init__(self, parties: int = 2, patience: float = 0.5) -> None:
        self._barrier = threading.Barrier(parties)
        self._patience = patience
        self.met = False

    def meet(self) -> None:
        try:
            self._barrier.wait(timeout=self._patience)
            self.met = True
        except threading.BrokenBarrierError:
            pass


class _PausingRepository:
    def __init__(self, inner: Any, method: str, rendezvous: Rendezvous) -> None:
        self._inner, self._method, self._rendezvous = inner, method, rendezvous

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name != self._method:
            return value

        def paused(*args: Any, **kwargs: Any) -> Any:
            self._rendezvous.meet()
            return value(*args, **kwargs)

        return paused


class _PausingUnitOfWork:
    """A unit of work whose ``<repository>.<method>`` first waits at the rendezvous."""

    def __init__(self, inner: UnitOfWork, repository: str, method: str, rendezvous: Rendezvous) -> None:
        self._inner = inner
        self._paused = _PausingRepository(getattr(inner, repository), method, rendezvous)
        self._repository = repository

    def __enter__(self) -> _PausingUnitOfWork:
        self._inner.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def __getattr__(self, name: str) -> Any:
        if name == self._repository:
            return self._paused
        return getattr(self._inner, name)


def pausing(factory: UnitOfWorkFactory, repository: str, method: str, rendezvous: Rendezvous) -> Any:
    def make() -> _PausingUnitOfWork:
        inner = factory()
        return _PausingUnitOfWork(inner, repository, method, rendezvous)

    return make


def together(*calls: Callable[[], object]) -> list[object]:
    """Run each call in its own thread, released at once; their results or exceptions."""
    start = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            start.wait(timeout=10)
            results[index] = calls[index]()
        except BaseException as error:  # compared by the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a call hung"
    return results


@pytest.fixture
def buyers(database: Database) -> Iterator[tuple[App, App]]:
    url = database.engine.url.render_as_string(hide_password=False)
    gateway = FakePaymentGateway(clock=CLOCK)
    first, second = app(url, gateway), app(url, gateway)
    yield first, second
    first.database.dispose()
    second.database.dispose()


def test_two_buyers_starting_at_once_one_holds_the_site(buyers: tuple[App, App]) -> None:
    first, second = buyers
    for round_ in range(ROUNDS):
        slug = f"race-shop-{round_}"
        first.sites.create_preview(slug, f"Race Shop {round_}", SiteContent(f"<h1>{round_}</h1>"))
        rendezvous = Rendezvous()
        starts = [
            attrs.evolve(
                on.purchases, uow=pausing(on.database.unit_of_work, "purchases", "add", rendezvous)
            ).start
            for on in (first, second)
        ]
        outcomes = together(
            functools.partial(starts[0], slug, f"ana-{round_}@example.com"),
            functools.partial(starts[1], slug, f"ben-{round_}@example.com"),
        )
        winners = [o for o in outcomes if isinstance(o, CheckoutStarted)]
        losers = [o for o in outcomes if isinstance(o, Conflict)]
        assert (len(winners), len(losers)) == (1, 1), outcomes
        assert "someone else is buying this site" in str(losers[0])
        assert not rendezvous.met, "both buyers reached the write together: the site row was not locked"
        with first.database.unit_of_work() as work:
            site = work.sites.get_by_slug(slug)
            assert site is not None
            held = [p for p in work.purchases.for_site(site.id) if p.status is PurchaseStatus.PENDING]
        assert [p.id for p in held] == [winners[0].purchase_id]


def domain_service(database: Database, rendezvous: Rendezvous | None = None) -> DomainService:
    units = domain_units_of_work(database)
    return DomainService(
        uow=pausing(units, "domains", "add", rendezvous) if rendezvous is not None else units,
        clock=CLOCK,
        resolver=FakeDnsResolver(),
        probe=FakeCertificateProbe(),
        normalize=domain_normalizer(()),
        config=DomainConfig(
            cnames_to="sites.webmagic.test",
            grace=dt.timedelta(hours=168),
            site_url=lambda slug: f"https://sites.webmagic.test/{slug}",
            manage_url=lambda slug: f"https://app.webmagic.test/portal/sites/{slug}",
        ),
    )


def owned_site(database: Database, slug: str) -> Customer:
    owner = Customer.new(email=f"owner@{slug}.test", now=CLOCK.now())
    site = Site.new_preview(slug=slug, business_name=slug, now=CLOCK.now(), actor=Actor.ADMIN, cause="t")
    site.sell(owner.id, cause="t", actor=Actor.SYSTEM, at=CLOCK.now())
    with database.unit_of_work() as uow:
        uow.customers.add(owner)
        uow.sites.add(site)
        uow.commit()
    return owner


def test_two_sites_claiming_one_domain_at_once_one_gets_it(database: Database) -> None:
    # Different sites lock different rows: here the one winner comes from the unique name,
    # which both transactions reach together (the rendezvous meets).
    url = database.engine.url.render_as_string(hide_password=False)
    first, second = Database(url, keys=TEST_KEYS), Database(url, keys=TEST_KEYS)
    try:
        owners = [owned_site(database, "north"), owned_site(database, "south")]
        for round_ in range(ROUNDS):
            name = f"shop-{round_}.example"
            rendezvous = Rendezvous()
            services = [domain_service(first, rendezvous), domain_service(second, rendezvous)]
            outcomes = together(
                functools.partial(services[0].attach, owners[0].id, "north", name),
                functools.partial(services[1].attach, owners[1].id, "south", name),
            )
            winners = [o for o in outcomes if isinstance(o, CustomDomain)]
            assert len(winners) == 1, outcomes
            assert all(isinstance(o, (CustomDomain, Conflict)) for o in outcomes), outcomes
            checker = domain_service(database)
            pairs = zip(owners, ("north", "south"), strict=True)
            held = [_domain_of(checker, owner, slug) for owner, slug in pairs]
            assert [d.domain if d else None for d in held].count(name) == 1, held
    finally:
        first.dispose()
        second.dispose()


def _domain_of(service: DomainService, owner: Customer, slug: str) -> CustomDomain | None:
    try:
        return service.get(owner.id, slug)
    except NotFound:
        return None
