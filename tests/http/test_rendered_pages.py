"""``GET /{slug}`` served from the page rendered when the version was written
(webmagic_core.pages): the same bytes and headers as a per-request render, a 304 from
the site's head alone, a cache miss as one read by digest, and the right variant after
every status change, also when another process made it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable

import pytest
from content_support import count_page_body_reads
from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.pages import PageVariant
from webmagic_core.services.sites import SiteService
from webmagic_core.site_files import INDEX
from webmagic_core.sites import Site

Client = TestClient[Litestar]
CreateSite = Callable[..., Site]
MoveSite = Callable[[Container, str, SiteStatus], None]
MakeApp = Callable[..., tuple[Litestar, Container]]

BANNER_MARK = b"data-webmagic-banner"
# Headers of a 200 that a 304 does not repeat.
BODY_HEADERS = {"content-type", "content-length", "x-content-type-options"}


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest() + '"'


def no_unit_of_work_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hosting may not load a version or a body through a unit of work (the old path)."""

    def never(self: SiteService, *args: object) -> object:
        raise AssertionError("the page was rendered per request")

    monkeypatch.setattr(SiteService, "version", never)
    monkeypatch.setattr(SiteService, "body", never)


def per_request_render(container: Container, slug: str, *, banner: bool) -> bytes:
    """What hosting served before pages were stored: the served index, with the banner
    added for a preview."""
    site, version = container.sites.files_of(slug)
    index = version.file(INDEX)
    assert index is not None
    body = container.sites.body(index.slug_digest)
    if not banner:
        return body
    return container.banner.render(
        body, slug=slug, business_name=site.business_name, rewritten=index.slug_digest != index.digest
    )


def test_a_preview_is_served_from_its_stored_banner_page_with_the_bytes_of_a_per_request_render(
    container: Container,
    client: Client,
    create_site: CreateSite,
    move_site: MoveSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = create_site(container, "sunrise-bakery", name="Sunrise & Sons")
    expected_banner = per_request_render(container, "sunrise-bakery", banner=True)
    expected_clean = per_request_render(container, "sunrise-bakery", banner=False)
    with container.database.unit_of_work() as work:
        pages = {page.variant: page.digest for page in work.sites.rendered_pages(site.id, 1)}
    assert pages == {
        PageVariant.BANNER: hashlib.sha256(expected_banner).hexdigest(),
        PageVariant.CLEAN: hashlib.sha256(expected_clean).hexdigest(),
    }
    no_unit_of_work_reads(monkeypatch)

    preview = client.get("/sunrise-bakery")
    assert preview.content == expected_banner
    assert preview.content.count(BANNER_MARK) == 1
    assert preview.headers["etag"] == etag_of(expected_banner)
    assert preview.headers["x-robots-tag"] == "noindex"

    move_site(container, "sunrise-bakery", SiteStatus.OWNED)
    owned = client.get("/sunrise-bakery", headers={"If-None-Match": preview.headers["etag"]})
    assert owned.status_code == 200
    assert owned.content == expected_clean
    assert owned.headers["etag"] == etag_of(expected_clean)
    assert "x-robots-tag" not in owned.headers


@pytest.mark.parametrize("status", [SiteStatus.PREVIEW, SiteStatus.ACTIVE])
def test_a_conditional_request_is_answered_from_the_head_without_reading_the_body(
    container: Container,
    client: Client,
    create_site: CreateSite,
    monkeypatch: pytest.MonkeyPatch,
    status: SiteStatus,
) -> None:
    create_site(container, "sunrise-bakery", status)
    ok = client.get("/sunrise-bakery")
    container_cache = client.app.state.page_cache
    container_cache.clear()

    def no_body(self: SiteService, digest: str) -> bytes | None:
        raise AssertionError("a 304 read the page's body")

    monkeypatch.setattr(SiteService, "page_body", no_body)
    no_unit_of_work_reads(monkeypatch)

    for method in ("GET", "HEAD"):
        response = client.request(method, "/sunrise-bakery", headers={"If-None-Match": ok.headers["etag"]})
        assert response.status_code == 304
        assert response.content == b""
        assert dict(response.headers) == {k: v for k, v in ok.headers.items() if k not in BODY_HEADERS}
    assert len(container_cache) == 0


def test_a_cache_miss_reads_the_ready_bytes_by_digest(
    make_app: MakeApp, create_site: CreateSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every request misses the page cache, and there is no disk copy to read instead.
    app, container = make_app(page_cache_bytes=0, page_body_cache_bytes=0)
    create_site(container, "sunrise-bakery")
    expected = per_request_render(container, "sunrise-bakery", banner=True)
    reads = count_page_body_reads(monkeypatch)
    no_unit_of_work_reads(monkeypatch)
    with TestClient(app) as client:
        for _ in range(3):
            response = client.get("/sunrise-bakery")
            assert (response.status_code, response.content) == (200, expected)
    assert reads == [hashlib.sha256(expected).hexdigest()] * 3


MOVE_SCRIPT = """
import sys
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.clock import SystemClock
from webmagic_core.lifecycle import Trigger
from webmagic_core.sites import Actor

database = Database(sys.argv[1])
with database.unit_of_work() as work:
    site = work.sites.get_by_slug(sys.argv[2], for_update=True)
    site.apply(Trigger(sys.argv[3]), cause="test", actor=Actor.SYSTEM, at=SystemClock().now())
    work.sites.save(site)
    work.commit()
database.dispose()
"""


def test_a_suspended_then_reactivated_site_serves_the_right_page_when_another_process_moves_it(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery")
    url = container.database.engine.url.render_as_string(hide_password=False)

    def another_process(trigger: str) -> None:
        subprocess.run(
            [sys.executable, "-c", MOVE_SCRIPT, url, "sunrise-bakery", trigger], check=True, timeout=60
        )

    preview = client.get("/sunrise-bakery")
    assert BANNER_MARK in preview.content
    another_process("purchase_paid")
    owned = client.get("/sunrise-bakery", headers={"If-None-Match": preview.headers["etag"]})
    assert owned.status_code == 200
    assert BANNER_MARK not in owned.content
    clean_etag = owned.headers["etag"]
    assert clean_etag == etag_of(owned.content) != preview.headers["etag"]

    another_process("subscription_started")
    another_process("paused")
    suspended = client.get("/sunrise-bakery", headers={"If-None-Match": clean_etag})
    assert suspended.status_code == 503
    assert "etag" not in suspended.headers

    another_process("unpaused")
    back = client.get("/sunrise-bakery")
    assert (back.status_code, back.content, back.headers["etag"]) == (200, owned.content, clean_etag)
    assert client.get("/sunrise-bakery", headers={"If-None-Match": clean_etag}).status_code == 304
    assert (
        client.get("/sunrise-bakery", headers={"If-None-Match": preview.headers["etag"]}).status_code == 200
    )


def test_a_banner_rendered_under_another_price_is_never_served_and_upgrade_renders_it_again(
    make_app: MakeApp, create_site: CreateSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, before = make_app()
    create_site(before, "sunrise-bakery")
    app, after = make_app(site_price_cents=12345, currency="EUR")  # the same database
    with TestClient(app) as client:
        response = client.get("/sunrise-bakery")
        assert b"\xe2\x82\xac123.45" in response.content  # rendered on the fly, with the new price
        assert response.headers["etag"] == etag_of(response.content)
        stale = response.content

        assert after.database.render_banners(after.banner) == 1
        assert after.database.render_banners(after.banner) == 0  # nothing left to do
        client.app.state.page_cache.clear()
        no_unit_of_work_reads(monkeypatch)
        again = client.get("/sunrise-bakery")
        assert (again.content, again.headers["etag"]) == (stale, response.headers["etag"])
