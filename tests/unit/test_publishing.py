"""Static publishing through the real use cases (on fakes): every change of what a site
serves asks for a publish in its own transaction, and the worker makes the folder match
the database after commit -- a preview with its banner, a sold site clean, a suspended or
archived one gone, a verified domain's host, and repairs after a crash."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from test_edits import World as EditWorld  # tests/unit/test_edits.py

from webmagic_adapters.domain_names import domain_normalizer
from webmagic_adapters.preview_banner import HtmlPreviewBanner
from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_core.accounts.customers import Customer
from webmagic_core.domains.model import CustomDomain, DomainStatus
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.ports import SitePublication
from webmagic_core.services.domains import DomainConfig, DomainService
from webmagic_core.services.publishing import PublishingWorker
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import Actor, SiteContent
from webmagic_core.testing import FakeClock
from webmagic_core.testing.domains import (
    FakeCertificateProbe,
    FakeDnsResolver,
    FakeDomainUnitOfWorkFactory,
    FakeHostDirectory,
)
from webmagic_core.testing.publishing import FakePublisher
from webmagic_core.testing.subscriptions import SubscriptionsWorld, subscriptions_world

PUBLIC_URL = "https://app.example.com"
BANNER = "data-webmagic-banner"


class World:
    def __init__(self) -> None:
        self.subs: SubscriptionsWorld = subscriptions_world()
        self.payments = self.subs.payments
        self.publisher = FakePublisher()
        self.domains = FakeDomainUnitOfWorkFactory(store=self.payments.store)
        self.worker = PublishingWorker(
            uow=self.domains,
            clock=self.payments.clock,
            publisher=self.publisher,
            banner=HtmlPreviewBanner(ParserSiteRewriter(), price="$495.00", purchase_base_url=PUBLIC_URL),
        )

    def pending(self) -> int:
        return len(self.payments.store.publish_requests)

    def page(self, slug: str = "casa-rosa") -> bytes | None:
        files = self.publisher.read(slug=slug)
        return files["index.html"] if files is not None else None

    def buy(self, slug: str = "casa-rosa") -> None:
        started = self.payments.purchases.start(slug, "rosa@example.com")
        self.subs.deliver(self.payments.paid_payload(started.checkout_id, customer_email="rosa@example.com"))


@pytest.fixture
def world() -> World:
    return World()


def test_a_preview_is_published_with_its_banner_and_noindex(world: World) -> None:
    world.payments.sites.create_preview(
        "casa-rosa", "Casa Rosa", SiteContent(html="<h1>Casa Rosa</h1>", css="h1{color:red}")
    )
    assert world.pending() == 1  # asked in the transaction that created it
    assert world.page() is None  # nothing is written before the worker runs
    report = world.worker.run_once()
    assert report.published == 1
    page = world.page()
    assert page is not None
    assert BANNER.encode() in page
    assert b"/purchase/casa-rosa" in page
    assert world.publisher.is_noindex("casa-rosa")
    assert world.pending() == 0


def test_a_purchase_publishes_the_site_clean(world: World) -> None:
    world.payments.preview()
    world.worker.drain()
    world.buy()
    assert world.subs.site().status is SiteStatus.OWNED
    assert world.pending() == 1  # written with the purchase, before anything ran
    world.worker.drain()
    page = world.page()
    assert page is not None
    assert BANNER.encode() not in page
    assert b"Casa Rosa" in page
    assert not world.publisher.is_noindex("casa-rosa")


def test_a_new_version_is_published(world: World) -> None:
    world.payments.preview()
    world.worker.drain()
    world.payments.sites.publish("casa-rosa", SiteContent(html="<h1>Casa Rosa, new</h1>"))
    world.worker.drain()
    assert b"Casa Rosa, new" in (world.page() or b"")


def test_a_suspended_site_has_no_files_and_comes_back_when_reactivated(world: World) -> None:
    world.subs.owned_site()
    world.worker.drain()
    assert world.page() is not None
    world.subs.sweep.run(world.payments.clock.advance(dt.timedelta(days=31)))
    assert world.subs.site().status is SiteStatus.SUSPENDED
    world.worker.drain()
    assert world.page() is None
    assert world.publisher.inventory().sites == {}
    world.subs.subscribe()
    assert world.subs.site().status is SiteStatus.ACTIVE
    world.worker.drain()
    assert world.page() is not None


def test_an_archived_site_has_no_files(world: World) -> None:
    world.subs.owned_site()
    world.worker.drain()
    world.subs.archiver.archive("casa-rosa")
    world.worker.drain()
    assert world.publisher.inventory().sites == {}


def test_a_rolled_back_change_asks_for_nothing(world: World) -> None:
    world.payments.preview()
    world.worker.drain()
    with world.payments.uow() as uow:
        site = uow.sites.get_by_slug("casa-rosa", for_update=True)
        assert site is not None
        uow.publish_queue.request(site.id, world.payments.clock.now())
        # no commit: the change and its request go together
    assert world.pending() == 0


def test_requests_coalesce_into_one_write(world: World) -> None:
    world.payments.preview()
    for number in range(5):
        world.payments.sites.publish("casa-rosa", SiteContent(html=f"<h1>v{number}</h1>"))
    assert world.pending() == 1
    world.worker.drain()
    assert world.publisher.writes == 1
    assert b"v4" in (world.page() or b"")


def test_a_worker_that_dies_after_claiming_is_repaired_after_the_lease(world: World) -> None:
    world.payments.preview()
    with world.domains() as uow:  # claimed, then the process died
        uow.publish_queue.claim(world.payments.clock.now(), limit=10, lease=world.worker.lease)
        uow.commit()
    assert world.worker.run_once().handled == 0  # held by the dead worker
    world.payments.clock.advance(world.worker.lease)
    assert world.worker.run_once().published == 1
    assert world.page() is not None


def test_a_failing_write_is_retried_later(world: World) -> None:
    world.payments.preview()
    world.publisher.failures = 1
    assert world.worker.run_once().failed == 1
    assert world.pending() == 1
    assert world.worker.run_once().handled == 0  # backing off
    world.payments.clock.advance(dt.timedelta(minutes=1))
    assert world.worker.run_once().published == 1


def _domain(world: World, status: DomainStatus, name: str = "casarosa.example") -> None:
    site = world.subs.site()
    with world.domains() as uow:
        now = world.payments.clock.now()
        domain = CustomDomain.new(site_id=site.id, domain=name, token="t" * 43, now=now)
        domain.status = status
        uow.domains.add(domain)
        uow.publish_queue.request(site.id, world.payments.clock.now())
        uow.commit()


def test_a_verified_domain_gets_the_root_files_and_a_pending_one_none(world: World) -> None:
    world.subs.owned_site()
    _domain(world, DomainStatus.PENDING)
    world.worker.drain()
    assert world.publisher.inventory().hosts == {}
    with world.domains() as uow:
        uow.domains.delete(uow.domains.for_site(world.subs.site().id))  # type: ignore[arg-type]
        uow.commit()
    _domain(world, DomainStatus.VERIFIED)
    world.worker.drain()
    assert world.publisher.read(host="casarosa.example") is not None


def test_rebuild_writes_everything_and_removes_strays(world: World) -> None:
    world.subs.owned_site()
    world.payments.preview("second", "Second")
    with world.payments.uow() as uow:
        uow.store.publish_requests.clear()  # as if publishing had been off until now
        uow.commit()
    world.publisher.publish(SitePublication(site_id=uuid.uuid4(), slug="gone", files={"index.html": b"x"}))
    report = world.worker.rebuild()
    assert (report.published, report.strays) == (2, 1)
    assert set(world.publisher.inventory().sites) == {"casa-rosa", "second"}


# -- custom domains through the domain service --------------------------------------------


class DomainWorld:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.uow = FakeDomainUnitOfWorkFactory()
        self.dns = FakeDnsResolver()
        self.service = DomainService(
            uow=self.uow,
            clock=self.clock,
            resolver=self.dns,
            probe=FakeCertificateProbe(),
            normalize=domain_normalizer({"sites.webmagic.test"}),
            config=DomainConfig(
                cnames_to="sites.webmagic.test",
                grace=dt.timedelta(hours=1),
                site_url=lambda slug: f"https://sites.webmagic.test/{slug}",
                manage_url=lambda slug: f"https://app.webmagic.test/portal/sites/{slug}",
            ),
            directory=FakeHostDirectory(self.uow),
        )
        self.publisher = FakePublisher()
        self.worker = PublishingWorker(
            uow=self.uow,
            clock=self.clock,
            publisher=self.publisher,
            banner=HtmlPreviewBanner(ParserSiteRewriter(), price="$495.00", purchase_base_url=PUBLIC_URL),
        )
        SiteService(uow=self.uow, clock=self.clock, rewriter=ParserSiteRewriter()).create_preview(
            "casa-rosa", "Casa Rosa", SiteContent(html='<img src="logo.png"><h1>Casa Rosa</h1>')
        )
        self.owner = Customer.new(email="rosa@example.com", password_hash="x", now=self.clock.now())
        with self.uow() as uow:
            uow.customers.add(self.owner)
            site = uow.sites.get_by_slug("casa-rosa", for_update=True)
            assert site is not None
            site.sell(self.owner.id, cause="t", actor=Actor.SYSTEM, at=self.clock.now())
            uow.sites.save(site)
            uow.commit()
        self.worker.drain()

    def attach_and_verify(self, name: str = "casarosa.example") -> None:
        token = self.service.attach(self.owner.id, "casa-rosa", name).token
        self.dns.set_txt(f"_webmagic-challenge.{name}", token)
        assert self.service.verify(self.owner.id, "casa-rosa").status is DomainStatus.VERIFIED


def test_a_verified_domain_is_published_at_its_root_and_removed_with_the_domain() -> None:
    world = DomainWorld()
    world.attach_and_verify()
    world.worker.drain()
    files = world.publisher.read(host="casarosa.example")
    assert files is not None
    site_files = world.publisher.read(slug="casa-rosa")
    assert site_files is not None
    assert b'src="/casa-rosa/logo.png' in site_files["index.html"]  # under /{slug}
    assert b'src="/logo.png' in files["index.html"]  # at the domain's root
    world.service.remove(world.owner.id, "casa-rosa")
    world.worker.drain()
    assert world.publisher.inventory().hosts == {}
    assert world.publisher.read(slug="casa-rosa") is not None


def test_a_lapsed_domain_is_withdrawn_and_a_replaced_one_moves() -> None:
    world = DomainWorld()
    world.attach_and_verify()
    world.worker.drain()
    world.dns.clear("_webmagic-challenge.casarosa.example")
    world.service.check()  # failing: still served
    world.worker.drain()
    assert set(world.publisher.inventory().hosts) == {"casarosa.example"}
    world.clock.advance(dt.timedelta(hours=2))
    world.service.check()  # lapsed
    world.worker.drain()
    assert world.publisher.inventory().hosts == {}
    world.attach_and_verify("www.casarosa.example")
    world.worker.drain()
    assert set(world.publisher.inventory().hosts) == {"www.casarosa.example"}


# -- edits: an approved draft and a restore --------------------------------------------------


def _edit_world() -> tuple[EditWorld, PublishingWorker, FakePublisher]:
    world = EditWorld()
    publisher = FakePublisher()
    worker = PublishingWorker(
        uow=FakeDomainUnitOfWorkFactory(store=world.uow.store),
        clock=world.clock,
        publisher=publisher,
        banner=HtmlPreviewBanner(ParserSiteRewriter(), price="$495.00", purchase_base_url=PUBLIC_URL),
    )
    worker.drain()
    return world, worker, publisher


def _page(publisher: FakePublisher) -> bytes:
    files = publisher.read(slug="sunrise-bakery")
    assert files is not None
    return files["index.html"]


def test_an_approved_edit_and_a_restore_are_published() -> None:
    world, worker, publisher = _edit_world()
    assert b"Fresh bread daily" not in _page(publisher)
    edit_id = world.ask("Add the words Fresh bread daily")
    world.service.work()
    worker.drain()
    assert b"Fresh bread daily" not in _page(publisher)  # a draft is not live
    world.service.approve(world.owner.id, world.site.slug, edit_id)
    worker.drain()
    assert b"Fresh bread daily" in _page(publisher)
    world.service.restore(world.owner.id, world.site.slug, 1)
    worker.drain()
    assert b"Fresh bread daily" not in _page(publisher)
