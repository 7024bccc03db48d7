"""Two drafting workers racing over 50 pending edits on SQLite and PostgreSQL, through the
whole service (claim, engine, store): each edit is drafted once, one draft and one mail each."""

from __future__ import annotations

import threading
from collections import Counter

from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.edits_repository import edit_units_of_work
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.clock import SystemClock
from webmagic_core.edits.model import EditStatus
from webmagic_core.services.edits import EditConfig, EditService
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import Actor, SiteContent
from webmagic_core.testing.edits import FakeEditEngine, FakePreviewLinks

PAGE = "<!doctype html><html><body><h1>Race Bakery</h1></body></html>"


def worker(database: Database, engine: FakeEditEngine) -> EditService:
    clock = SystemClock()
    uow = edit_units_of_work(database)
    return EditService(
        uow=uow,
        clock=clock,
        sites=SiteService(uow=uow, clock=clock, rewriter=ParserSiteRewriter()),
        engine=engine,
        links=FakePreviewLinks(clock),
        config=EditConfig(
            per_month=100,
            site_url=lambda slug: f"https://sites.test/{slug}",
            manage_url=lambda slug: f"https://app.test/portal/sites/{slug}",
            preview_url=lambda token: f"https://sites.test/_preview/{token}/",
        ),
    )


def test_two_workers_draft_each_of_50_edits_exactly_once(database: Database) -> None:
    engines = [FakeEditEngine(name="one"), FakeEditEngine(name="two")]
    services = [worker(database, engine) for engine in engines]
    sites = services[0].sites
    sites.create_preview("race-bakery", "Race Bakery", SiteContent(PAGE))
    clock = SystemClock()
    owner = Customer.new(email="owner@race.test", now=clock.now())
    uow = edit_units_of_work(database)
    with uow() as u:
        u.customers.add(owner)
        site = u.sites.get_by_slug("race-bakery", for_update=True)
        assert site is not None
        site.sell(owner.id, cause="test", actor=Actor.SYSTEM, at=clock.now())
        u.sites.save(site)
        u.commit()
    asked = {services[0].request(owner.id, "race-bakery", f"change {n}").edit.id for n in range(50)}
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(service: EditService) -> None:
        start.wait()
        try:
            service.work(limit=100)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(service,)) for service in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(engine.drafted for engine in engines) == 50  # the engine was asked once per edit
    assert all(engine.drafted for engine in engines)  # both took part
    with uow() as u:
        edits = u.edits.for_site(site.id, limit=100)
        mails = [m for m in u.outbox.list(limit=1000) if m.message.template is EmailTemplate.EDIT_READY]
    assert {e.id for e in edits} == asked
    assert all(e.status is EditStatus.READY and e.attempts == 1 for e in edits)
    assert Counter(e.drafted_by for e in edits).keys() == {"one", "two"}
    assert len(mails) == 50
