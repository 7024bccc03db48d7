"""``GET /{slug}`` and its assets, state by state (docs/architecture.md lifecycle table)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_core.errors import TransientError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import Site, SiteContent

Client = TestClient[Litestar]
CreateSite = Callable[..., Site]
MoveSite = Callable[[Container, str, SiteStatus], None]
MakeApp = Callable[..., tuple[Litestar, Container]]

BANNER_MARK = "data-webmagic-banner"


def test_preview_is_served_with_the_purchase_banner_and_noindex(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery", name="Sunrise & Sons <Bakery>")

    response = client.get("/sunrise-bakery")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-robots-tag"] == "noindex"
    body = response.text
    assert body.count(BANNER_MARK) == 1
    banner = body[body.index("<!-- WebMagic preview banner -->") :]
    assert "Sunrise &amp; Sons &lt;Bakery&gt;" in banner  # named, and escaped
    assert "<Bakery>" not in banner
    assert "$495.00" in banner
    assert 'href="http://127.0.0.1:8000/purchase/sunrise-bakery"' in banner
    assert ">Buy this site</a>" in banner
    assert 'role="region"' in banner
    assert 'aria-label="Buy this website"' in banner
    # Self-contained: no stylesheet, script or image of its own, only inline styles.
    assert not re.search(r"<(link|script|img|style)\b", banner)
    assert "position:fixed" in banner  # out of the page's flow: the site's layout is untouched
    assert body.index(BANNER_MARK) < body.lower().rindex("</body>")


def test_banner_uses_public_url_and_price_from_settings(make_app: MakeApp, create_site: CreateSite) -> None:
    app, container = make_app(public_url="https://shop.example.test/", site_price_cents=12345, currency="EUR")
    create_site(container, "sunrise-bakery")
    with TestClient(app, base_url="https://shop.example.test") as client:
        body = client.get("/sunrise-bakery").text
    assert 'href="https://shop.example.test/purchase/sunrise-bakery"' in body
    assert "€123.45" in body


@pytest.mark.parametrize("status", [SiteStatus.OWNED, SiteStatus.ACTIVE, SiteStatus.PAST_DUE])
def test_sold_sites_are_served_clean(
    container: Container,
    client: Client,
    status: SiteStatus,
    create_site: CreateSite,
    site_content: SiteContent,
) -> None:
    create_site(container, "sunrise-bakery", status)

    response = client.get("/sunrise-bakery")

    assert response.status_code == 200
    assert BANNER_MARK not in response.text
    assert "Buy this site" not in response.text
    assert "x-robots-tag" not in response.headers
    assert "<h1>Sunrise Bakery v1</h1>" in response.text
    assert client.get("/sunrise-bakery/styles.css").text == site_content.css


@pytest.mark.parametrize(
    "path", ["/sunrise-bakery", "/sunrise-bakery/", "/sunrise-bakery/styles.css", "/sunrise-bakery/app.js"]
)
def test_suspended_site_answers_503_with_retry_after(
    container: Container, client: Client, path: str, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery", SiteStatus.SUSPENDED)

    response = client.get(path)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "3600"
    assert response.headers["x-robots-tag"] == "noindex"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "temporarily unavailable" in response.text
    assert "Sunrise" not in response.text  # neutral: nothing of the site shows
    assert "etag" not in response.headers


def _not_found_fingerprint(response: object) -> tuple[int, bytes, dict[str, str]]:
    from httpx import Response

    assert isinstance(response, Response)
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    return response.status_code, response.content, headers


def test_unknown_archived_reserved_and_invalid_slugs_look_the_same(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "old-bakery", SiteStatus.ARCHIVED)

    paths = [
        "/no-such-site",  # unknown
        "/old-bakery",  # archived
        "/pricing",  # reserved (/portal is the customer portal's page now)
        "/static",  # reserved
        "/www",  # reserved
        "/ab",  # too short
        "/Sunrise-Bakery",  # upper case
        "/double--hyphen",
        "/-leading",
        "/" + "a" * 64,  # too long
        "/old-bakery/styles.css",
        "/no-such-site/app.js",
        "/pricing/app.js",
    ]
    fingerprints = {path: _not_found_fingerprint(client.get(path)) for path in paths}

    reference = fingerprints["/no-such-site"]
    assert reference[0] == 404
    assert b"Page not found" in reference[1]
    assert reference[2]["content-type"] == "text/html; charset=utf-8"
    for path, fingerprint in fingerprints.items():
        assert fingerprint == reference, path


def test_invalid_and_reserved_slugs_never_reach_the_database(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: SiteService, slug: str) -> None:
        raise AssertionError(f"resolve({slug!r}) was called")

    monkeypatch.setattr(SiteService, "resolve", fail)

    for path in ["/pricing", "/api-", "/ab", "/UPPER", "/schema/styles.css", "/under_score/app.js"]:
        assert client.get(path).status_code == 404, path


def test_assets_are_served_with_their_content_types(
    container: Container, client: Client, create_site: CreateSite, site_content: SiteContent
) -> None:
    create_site(container, "sunrise-bakery")

    css = client.get("/sunrise-bakery/styles.css")
    js = client.get("/sunrise-bakery/app.js")

    assert (css.status_code, css.headers["content-type"], css.text) == (
        200,
        "text/css; charset=utf-8",
        site_content.css,
    )
    assert (js.status_code, js.headers["content-type"], js.text) == (
        200,
        "text/javascript; charset=utf-8",
        site_content.js,
    )
    for response in (css, js):
        assert response.headers["etag"].startswith('"')
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_the_page_refers_to_assets_that_work_with_and_without_trailing_slash(
    container: Container, client: Client, create_site: CreateSite, site_content: SiteContent
) -> None:
    create_site(container, "sunrise-bakery", SiteStatus.ACTIVE)

    bare = client.get("/sunrise-bakery")
    slashed = client.get("/sunrise-bakery/")

    assert bare.status_code == slashed.status_code == 200
    assert bare.content == slashed.content
    refs = re.findall(r'(?:href|src)="([^"#]+)"', bare.text)
    assert [ref.split("?")[0] for ref in refs] == ["/sunrise-bakery/styles.css", "/sunrise-bakery/app.js"]
    assert all(re.fullmatch(r"v=[0-9a-f]{16}", ref.split("?")[1]) for ref in refs)  # fingerprinted
    assert client.get(refs[0]).text == site_content.css
    assert client.get(refs[1]).text == site_content.js
    assert 'href="#contact"' in bare.text  # in-page links are left alone (no <base>)


def test_a_page_that_does_not_link_its_assets_gets_them_linked(container: Container, client: Client) -> None:
    container.sites.create_preview(
        "plain-site",
        "Plain",
        SiteContent(html="<html><head><title>x</title></head><body>hi</body></html>", css="body{}", js="1;"),
    )
    body = client.get("/plain-site").text
    head = body[: body.index("</head>")]
    assert re.search(r'<link rel="stylesheet" href="/plain-site/styles\.css\?v=[0-9a-f]{16}">', head)
    assert re.search(r'<script src="/plain-site/app\.js\?v=[0-9a-f]{16}" defer=""></script>', head)


def test_etag_and_conditional_requests(container: Container, client: Client, create_site: CreateSite) -> None:
    create_site(container, "sunrise-bakery")
    first = client.get("/sunrise-bakery")
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)  # strong: the SHA-256 of the bytes sent
    assert etag == '"' + hashlib.sha256(first.content).hexdigest() + '"'
    assert first.headers["cache-control"] == "no-cache"

    for header in (etag, f'"other", {etag}', f"W/{etag}", f'W/"x" ,  W/{etag}', "*"):
        response = client.get("/sunrise-bakery", headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["x-robots-tag"] == "noindex"
        assert response.headers["cache-control"] == "no-cache"

    for header in ('"other"', 'W/"other"', etag[:-2] + '"'):
        assert client.get("/sunrise-bakery", headers={"If-None-Match": header}).status_code == 200


def test_conditional_requests_for_assets(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery")
    for path in ("/sunrise-bakery/styles.css", "/sunrise-bakery/app.js"):
        etag = client.get(path).headers["etag"]
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304


def test_publishing_changes_the_etag_and_shows_on_the_next_request(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery", SiteStatus.ACTIVE)
    old = client.get("/sunrise-bakery")
    old_css_etag = client.get("/sunrise-bakery/styles.css").headers["etag"]

    container.sites.publish(
        "sunrise-bakery", SiteContent(html="<html><body><h1>Version two</h1></body></html>", css="h1{}")
    )

    new = client.get("/sunrise-bakery", headers={"If-None-Match": old.headers["etag"]})
    assert new.status_code == 200
    assert "Version two" in new.text
    assert new.headers["etag"] != old.headers["etag"]
    css = client.get("/sunrise-bakery/styles.css", headers={"If-None-Match": old_css_etag})
    assert (css.status_code, css.text) == (200, "h1{}")


def test_status_changes_show_on_the_next_request(
    container: Container, client: Client, move_site: MoveSite, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery")
    assert BANNER_MARK in client.get("/sunrise-bakery").text

    move_site(container, "sunrise-bakery", SiteStatus.OWNED)
    owned = client.get("/sunrise-bakery")
    assert owned.status_code == 200
    assert BANNER_MARK not in owned.text

    container.sites.archive("sunrise-bakery")
    assert client.get("/sunrise-bakery").status_code == 404


def test_the_same_version_in_another_mode_gets_another_etag(
    container: Container, client: Client, move_site: MoveSite, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery")
    preview = client.get("/sunrise-bakery").headers["etag"]
    move_site(container, "sunrise-bakery", SiteStatus.OWNED)
    owned = client.get("/sunrise-bakery", headers={"If-None-Match": preview})
    assert owned.status_code == 200
    assert owned.headers["etag"] != preview


def test_head_answers_headers_without_a_body(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery")
    create_site(container, "closed-bakery", SiteStatus.SUSPENDED)
    get = client.get("/sunrise-bakery")

    head = client.head("/sunrise-bakery")

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == str(len(get.content))
    assert client.head("/sunrise-bakery", headers={"If-None-Match": get.headers["etag"]}).status_code == 304
    missing = client.head("/no-such-site")
    assert (missing.status_code, missing.content) == (404, b"")
    suspended = client.head("/closed-bakery")
    assert (suspended.status_code, suspended.content) == (503, b"")


def test_the_page_is_read_ready_made_once_per_version(
    container: Container, client: Client, monkeypatch: pytest.MonkeyPatch, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery")
    reads: list[str] = []
    original = SiteService.page_body

    def counting(self: SiteService, digest: str) -> bytes | None:
        reads.append(digest)
        return original(self, digest)

    def never(self: SiteService, *args: object) -> object:
        raise AssertionError("the page was loaded through a unit of work")

    monkeypatch.setattr(SiteService, "page_body", counting)
    monkeypatch.setattr(SiteService, "version", never)
    monkeypatch.setattr(SiteService, "body", never)

    etags = {client.get("/sunrise-bakery").headers["etag"] for _ in range(3)}
    assert [f'"{digest}"' for digest in reads] == list(etags)  # one read, by the ETag's digest

    container.sites.publish("sunrise-bakery", SiteContent(html="<body>v2</body>"))
    for _ in range(2):
        assert "v2" in client.get("/sunrise-bakery").text
    assert len(reads) == 2


def test_a_zero_budget_disables_the_cache_but_not_hosting(make_app: MakeApp, create_site: CreateSite) -> None:
    app, container = make_app(page_cache_bytes=0)
    create_site(container, "sunrise-bakery")
    with TestClient(app) as client:
        assert client.get("/sunrise-bakery").status_code == 200
        assert client.get("/sunrise-bakery").status_code == 200
    assert len(app.state.page_cache) == 0


def test_other_methods_are_refused_with_a_problem(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery")
    response = client.post("/sunrise-bakery", content=b"x")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert "GET" in response.headers["allow"]


def test_unrouted_paths_under_a_site_get_the_not_found_page(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery")
    response = client.get("/sunrise-bakery/about.html")
    assert response.status_code == 404
    assert response.content == client.get("/no-such-site").content


def test_a_database_outage_shows_visitors_the_unavailable_page(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(self: SiteService, slug: str) -> None:
        raise TransientError("the database is unavailable or busy, try again")

    monkeypatch.setattr(SiteService, "resolve", busy)

    page = client.get("/sunrise-bakery")
    assert page.status_code == 503
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "temporarily unavailable" in page.text
    assert page.headers["retry-after"].isdigit()
    api = client.get("/api/v1/sites/sunrise-bakery")
    assert api.status_code == 503
    assert api.headers["content-type"] == "application/problem+json"


def test_paths_that_merely_start_like_app_paths_are_site_paths(client: Client) -> None:
    for path in ("/schemas-bakery/menu", "/apis-and-bees/x", "/healthz-gym/x"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.content == client.get("/no-such-site").content, path
