"""SiteService stores each version's page variants when it writes the version."""

from __future__ import annotations

import pytest

from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.pages import PageVariant, RenderedPage, page_variant, variant_by_status
from webmagic_core.services.sites import SiteService
from webmagic_core.site_files import digest_of
from webmagic_core.sites import Actor, SiteContent
from webmagic_core.testing import FakeClock, FakeUnitOfWorkFactory


class MarkingBanner:
    """A banner that appends the site's name: enough to tell the variants apart."""

    key = "k1"

    def render(self, page: bytes, *, slug: str, business_name: str, rewritten: bool) -> bytes:
        return page + f"<banner {slug} {business_name}>".encode()


@pytest.fixture
def uow() -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


def service(uow: FakeUnitOfWorkFactory) -> SiteService:
    return SiteService(uow=uow, clock=FakeClock(), banner=MarkingBanner())


def pages(uow: FakeUnitOfWorkFactory, slug: str, number: int) -> dict[PageVariant, RenderedPage]:
    with uow() as work:
        site = work.sites.get_by_slug(slug)
        assert site is not None
        return {page.variant: page for page in work.sites.rendered_pages(site.id, number)}


def test_only_a_preview_serves_the_banner_and_sold_statuses_the_clean_page() -> None:
    assert variant_by_status() == {
        SiteStatus.PREVIEW: PageVariant.BANNER,
        SiteStatus.OWNED: PageVariant.CLEAN,
        SiteStatus.ACTIVE: PageVariant.CLEAN,
        SiteStatus.PAST_DUE: PageVariant.CLEAN,
    }
    assert page_variant(SiteStatus.SUSPENDED) is None
    assert page_variant(SiteStatus.ARCHIVED) is None


def test_a_new_preview_stores_both_variants_and_its_head_names_the_banner(uow: FakeUnitOfWorkFactory) -> None:
    service(uow).create_preview("rosas", "Rosa", SiteContent(html="<h1>1</h1>"))
    stored = pages(uow, "rosas", 1)
    banner = b"<h1>1</h1><banner rosas Rosa>"
    assert stored == {
        PageVariant.BANNER: RenderedPage(PageVariant.BANNER, digest_of(banner), "k1"),
        PageVariant.CLEAN: RenderedPage(PageVariant.CLEAN, digest_of(b"<h1>1</h1>")),
    }
    with uow() as work:
        assert work.sites.get_body(digest_of(banner)) == banner
        head = work.sites.head_by_slug("rosas")
    assert head is not None
    assert (head.page_digest, head.page_key) == (digest_of(banner), "k1")


def test_publishing_renders_the_banner_for_a_preview_only(uow: FakeUnitOfWorkFactory) -> None:
    sites = service(uow)
    sites.create_preview("rosas", "Rosa", SiteContent(html="<h1>1</h1>"))
    sites.publish("rosas", SiteContent(html="<h1>2</h1>"))
    assert set(pages(uow, "rosas", 2)) == {PageVariant.BANNER, PageVariant.CLEAN}

    with uow() as work:
        site = work.sites.get_by_slug("rosas", for_update=True)
        assert site is not None
        site.apply(Trigger.PURCHASE_PAID, cause="test", actor=Actor.SYSTEM, at=FakeClock().now())
        work.sites.save(site)
        work.commit()
    sites.publish("rosas", SiteContent(html="<h1>3</h1>"))
    assert pages(uow, "rosas", 3) == {
        PageVariant.CLEAN: RenderedPage(PageVariant.CLEAN, digest_of(b"<h1>3</h1>"))
    }
    with uow() as work:
        head = work.sites.head_by_slug("rosas")
    assert head is not None
    assert (head.current_version, head.page_digest, head.page_key) == (3, digest_of(b"<h1>3</h1>"), "")
