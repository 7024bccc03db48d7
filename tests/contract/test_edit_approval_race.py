"""One winner when an owner approves two drafts made from the same version at once (two
tabs, two devices), and when the same draft is approved twice at once: on SQLite and
PostgreSQL, repeated, the site gains exactly one version and the loser changes nothing."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from test_edit_workers import worker

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.edits_repository import edit_units_of_work
from webmagic_core.accounts.customers import Customer
from webmagic_core.clock import SystemClock
from webmagic_core.edits.model import EditStatus
from webmagic_core.errors import Conflict
from webmagic_core.services.edits import EditService
from webmagic_core.sites import Actor, SiteContent
from webmagic_core.testing.edits import FakeEditEngine

ROUNDS = 8


def setup(database: Database) -> tuple[EditService, Customer]:
    service = worker(database, FakeEditEngine())
    service.sites.create_preview(
        "race-bakery", "Race Bakery", SiteContent("<html><body><h1>R</h1></body></html>")
    )
    clock = SystemClock()
    owner = Customer.new(email="owner@race.test", now=clock.now())
    with edit_units_of_work(database)() as u:
        u.customers.add(owner)
        site = u.sites.get_by_slug("race-bakery", for_update=True)
        assert site is not None
        site.sell(owner.id, cause="test", actor=Actor.SYSTEM, at=clock.now())
        u.sites.save(site)
        u.commit()
    return service, owner


def race(*calls: Callable[[], object]) -> list[BaseException | None]:
    start = threading.Barrier(len(calls))
    outcomes: list[BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            calls[index]()
        except BaseException as error:  # compared below
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_drafts_of_one_version_approved_at_once_one_goes_live(database: Database) -> None:
    service, owner = setup(database)
    for round_ in range(ROUNDS):
        live = service.sites.details("race-bakery").site.current_version
        first = service.request(owner.id, "race-bakery", f"first {round_}").edit.id
        second = service.request(owner.id, "race-bakery", f"second {round_}").edit.id
        assert len(service.work()) == 2
        outcomes = race(
            *(functools.partial(service.approve, owner.id, "race-bakery", e) for e in (first, second))
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "NoneType"], outcomes
        assert all(o is None or isinstance(o, Conflict) for o in outcomes)
        statuses = {service.get(owner.id, "race-bakery", e).edit.status for e in (first, second)}
        assert statuses == {EditStatus.APPLIED, EditStatus.READY}
        details = service.sites.details("race-bakery")
        assert details.site.current_version == live + 1
        assert len(details.versions) == live + 1


def test_one_draft_approved_twice_at_once_makes_one_version(database: Database) -> None:
    service, owner = setup(database)
    for round_ in range(ROUNDS):
        live = service.sites.details("race-bakery").site.current_version
        edit_id = service.request(owner.id, "race-bakery", f"only {round_}").edit.id
        service.work()
        approve = functools.partial(service.approve, owner.id, "race-bakery", edit_id)
        outcomes = race(approve, approve)
        assert sum(o is None for o in outcomes) == 1, outcomes
        assert all(o is None or isinstance(o, Conflict) for o in outcomes)
        assert service.sites.details("race-bakery").site.current_version == live + 1
