"""The business events an edit leaves in the logs (`edit.applied`, `edit.rejected`): found by
name and ids, so operators can follow an edit from request to version."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest

from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import NotFound
from webmagic_core.services.edits import EditConfig, EditService
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import Actor, Site, SiteContent
from webmagic_core.testing import FakeClock
from webmagic_core.testing.edits import FakeEditEngine, FakeEditUnitOfWorkFactory, FakePreviewLinks

PAGE = "<!doctype html><html><head><title>Sunrise</title></head><body><h1>Sunrise Bakery</h1></body></html>"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC))
        self.uow = FakeEditUnitOfWorkFactory()
        self.sites = SiteService(uow=self.uow, clock=self.clock, rewriter=ParserSiteRewriter())
        self.service = EditService(
            uow=self.uow,
            clock=self.clock,
            sites=self.sites,
            engine=FakeEditEngine(),
            links=FakePreviewLinks(self.clock),
            config=EditConfig(
                per_month=10,
                site_url=lambda slug: f"https://sites.webmagic.test/{slug}",
                manage_url=lambda slug: f"https://app.webmagic.test/portal/sites/{slug}",
                preview_url=lambda token: f"https://sites.webmagic.test/_preview/{token}/",
                admin_email="ops@webmagic.test",
            ),
        )
        self.owner = Customer.new(email="rosa@example.com", password_hash="x", now=self.clock.now())
        with self.uow() as uow:
            uow.customers.add(self.owner)
            uow.commit()
        self.sites.create_preview("sunrise-bakery", "Sunrise Bakery", SiteContent(PAGE, css="h1{color:red}"))
        with self.uow() as uow:
            site = uow.sites.get_by_slug("sunrise-bakery")
            assert site is not None
            site.sell(self.owner.id, cause="t", actor=Actor.SYSTEM, at=self.clock.now())
            uow.sites.save(site)
            uow.commit()
        self.site: Site = site

    def drafted(self) -> object:
        edit_id = self.service.request(
            self.owner.id, self.site.slug, "Add the words Fresh bread daily"
        ).edit.id
        self.service.work()
        return edit_id


def events_named(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "webmagic.events" and getattr(r, "event", None) == name]


def test_an_approved_edit_logs_the_version_it_became(caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    edit_id = world.drafted()
    caplog.set_level(logging.INFO, logger="webmagic.events")
    world.service.approve(world.owner.id, world.site.slug, edit_id)  # type: ignore[arg-type]
    [applied] = events_named(caplog, "edit.applied")
    with world.uow() as uow:
        site = uow.sites.get(world.site.id)
    assert site is not None
    assert site.current_version == 2
    assert applied.getMessage() == f"edit {edit_id} of sunrise-bakery applied as version 2"
    assert (applied.edit_id, applied.site_id, applied.version) == (  # type: ignore[attr-defined]
        str(edit_id),
        str(world.site.id),
        2,
    )
    assert events_named(caplog, "edit.rejected") == []


def test_a_rejected_edit_logs_its_ids(caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    edit_id = world.drafted()
    caplog.set_level(logging.INFO, logger="webmagic.events")
    world.service.reject(world.owner.id, world.site.slug, edit_id)  # type: ignore[arg-type]
    [rejected] = events_named(caplog, "edit.rejected")
    assert rejected.getMessage() == f"edit {edit_id} of sunrise-bakery rejected"
    assert (rejected.edit_id, rejected.site_id) == (str(edit_id), str(world.site.id))  # type: ignore[attr-defined]
    assert events_named(caplog, "edit.applied") == []


def test_approving_asks_for_the_site_to_be_published_again() -> None:
    world = World()
    edit_id = world.drafted()
    world.uow.store.publish_requests.clear()
    world.service.approve(world.owner.id, world.site.slug, edit_id)  # type: ignore[arg-type]
    assert list(world.uow.store.publish_requests) == [world.site.id]


def test_approving_on_a_site_not_ones_own_reads_like_an_unknown_slug() -> None:
    world = World()
    edit_id = world.drafted()
    stranger = uuid.uuid4()
    with pytest.raises(NotFound) as unknown:
        world.sites.owned_site(stranger, world.site.slug)
    with pytest.raises(NotFound) as refused:
        world.service.approve(stranger, world.site.slug, edit_id)  # type: ignore[arg-type]
    assert refused.value.detail == unknown.value.detail
    assert world.site.slug in refused.value.detail
