"""Sites are folders: every file of a version served at ``/{slug}/{path}`` with its type,
a strong ETag and the right caching; every reference of a page loads; and hosted sites
are isolated from the portal (sandboxed on a shared origin, or on a host of their own)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import tinycss2
from litestar import Litestar
from litestar.testing import TestClient
from selectolax.lexbor import LexborHTMLParser

from webmagic_adapters.bootstrap import Container
from webmagic_adapters.demo import DEMO_SLUGS, load_demo_sites
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.site_files import FileLimits, SiteFiles, digest_of

Client = TestClient[Litestar]
MakeApp = Callable[..., tuple[Litestar, Container]]
MoveSite = Callable[[Container, str, SiteStatus], None]

LOGO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
FONT = b"wOF2" + bytes(64)
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rosa's Bakery</title>
<meta property="og:image" content="img/logo.png">
<link rel="stylesheet" href="css/main.css"><link rel="icon" href="favicon.ico">
<style>.hero { background: url(img/hero.jpg) }</style></head>
<body><header><img src="img/logo.png" srcset="img/logo.png 1x, img/logo@2x.png 2x" alt="logo"></header>
<a href="#menu">Menu</a> <a href="about.html">About</a> <a href="mailto:rosa@example.com">Mail</a>
<a href="https://maps.example.test/rosa">Map</a> <a href="tel:+15551234">Call</a>
<video poster="img/hero.jpg" src="media/clip.webm"></video>
<p style="background:url('img/hero.jpg')">x</p>
<script type="module" src="js/app.mjs"></script></body></html>
"""
FILES: dict[str, bytes] = {
    "index.html": PAGE.encode(),
    "about.html": b'<!doctype html><link rel="stylesheet" href="css/main.css"><img src="img/logo.png">',
    "css/main.css": b'@font-face{font-family:R;src:url("../fonts/r.woff2") format("woff2")}'
    b"body{background:url(../img/hero.jpg)}",
    "fonts/r.woff2": FONT,
    "img/logo.png": LOGO,
    "img/logo@2x.png": LOGO + b"2x",
    "img/hero.jpg": b"\xff\xd8\xff fake jpeg",
    "favicon.ico": b"\x00\x00\x01\x00 ico",
    "media/clip.webm": b"\x1aE\xdf\xa3 webm",
    "js/app.mjs": b"export const ready = true;",
}
TYPES = {
    "index.html": "text/html; charset=utf-8",
    "css/main.css": "text/css; charset=utf-8",
    "fonts/r.woff2": "font/woff2",
    "img/logo.png": "image/png",
    "img/hero.jpg": "image/jpeg",
    "favicon.ico": "image/vnd.microsoft.icon",
    "media/clip.webm": "video/webm",
    "js/app.mjs": "text/javascript; charset=utf-8",
}


def folder_site(container: Container, slug: str = "rosas-bakery", **extra: bytes) -> None:
    container.sites.create_preview(slug, "Rosa's Bakery", SiteFiles.build({**FILES, **extra}, FileLimits()))


@pytest.fixture
def app_and_container(make_app: MakeApp) -> tuple[Litestar, Container]:
    return make_app()


@pytest.fixture
def shop(app_and_container: tuple[Litestar, Container]) -> Iterator[tuple[Client, Container]]:
    app, container = app_and_container
    with TestClient(app) as client:
        yield client, container


def test_every_file_is_served_with_its_type_and_its_digest_as_etag(shop: tuple[Client, Container]) -> None:
    client, container = shop
    folder_site(container)
    for path, kind in TYPES.items():
        response = client.get(f"/rosas-bakery/{path}")
        assert response.status_code == 200, path
        assert response.headers["content-type"] == kind, path
        assert response.headers["etag"] == '"' + hashlib.sha256(response.content).hexdigest() + '"', path
        assert response.headers["x-content-type-options"] == "nosniff"
    # Files nothing rewrote are the uploaded bytes, and their ETag is the stored digest.
    logo = client.get("/rosas-bakery/img/logo.png")
    assert logo.content == LOGO
    assert logo.headers["etag"] == f'"{digest_of(LOGO)}"'


def test_fingerprinted_urls_are_cached_for_a_year_and_others_revalidate(
    shop: tuple[Client, Container],
) -> None:
    client, container = shop
    folder_site(container)
    fingerprint = digest_of(LOGO)[:16]
    assert client.get("/rosas-bakery/img/logo.png").headers["cache-control"] == "no-cache"
    cached = client.get(f"/rosas-bakery/img/logo.png?v={fingerprint}")
    assert cached.headers["cache-control"] == "public, max-age=31536000, immutable"
    # A stale fingerprint (an older version's) must not pin today's bytes forever.
    assert client.get("/rosas-bakery/img/logo.png?v=0123456789abcdef").headers["cache-control"] == "no-cache"
    revalidated = client.get(
        f"/rosas-bakery/img/logo.png?v={fingerprint}", headers={"If-None-Match": cached.headers["etag"]}
    )
    assert (revalidated.status_code, revalidated.content) == (304, b"")
    assert revalidated.headers["cache-control"] == "public, max-age=31536000, immutable"
    page = client.get("/rosas-bakery")
    assert page.headers["cache-control"] == "no-cache"  # HTML always revalidates
    assert client.get("/rosas-bakery/about.html?v=x").headers["cache-control"] == "no-cache"


def test_missing_files_and_paths_that_name_no_file_are_the_404_page(shop: tuple[Client, Container]) -> None:
    client, container = shop
    folder_site(container)
    reference = client.get("/no-such-site")
    for path in [
        "/rosas-bakery/img/nope.png",
        "/rosas-bakery/IMG/logo.png",  # case matters
        "/rosas-bakery/img/../../etc/passwd",
        "/rosas-bakery/.env",
        "/rosas-bakery/img%5Clogo.png",
        "/rosas-bakery/css/",
    ]:
        response = client.get(path)
        assert (response.status_code, response.content) == (404, reference.content), path
    assert client.head("/rosas-bakery/img/nope.png").status_code == 404


def test_the_page_is_also_at_index_html_and_the_slash_url(shop: tuple[Client, Container]) -> None:
    client, container = shop
    folder_site(container)
    page = client.get("/rosas-bakery")
    assert client.get("/rosas-bakery/").content == page.content
    assert client.get("/rosas-bakery/index.html").content == page.content


def test_head_answers_like_get_without_a_body(shop: tuple[Client, Container]) -> None:
    client, container = shop
    folder_site(container)
    get, head = client.get("/rosas-bakery/img/logo.png"), client.head("/rosas-bakery/img/logo.png")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["etag"] == get.headers["etag"]


def test_previews_carry_the_banner_in_pages_only_and_noindex_everywhere(
    shop: tuple[Client, Container], move_site: MoveSite
) -> None:
    client, container = shop
    folder_site(container)
    page, about, logo = (client.get(f"/rosas-bakery/{p}") for p in ("", "about.html", "img/logo.png"))
    assert b"data-webmagic-banner" in page.content
    assert b"data-webmagic-banner" in about.content
    assert logo.content == LOGO
    assert all(r.headers["x-robots-tag"] == "noindex" for r in (page, about, logo))
    move_site(container, "rosas-bakery", SiteStatus.ACTIVE)
    clean = client.get("/rosas-bakery")
    assert b"data-webmagic-banner" not in clean.content
    assert "x-robots-tag" not in clean.headers
    assert clean.headers["etag"] != page.headers["etag"]


def test_a_new_version_is_served_on_the_next_request_with_shared_files_unchanged(
    shop: tuple[Client, Container],
) -> None:
    client, container = shop
    folder_site(container)
    before = client.get("/rosas-bakery/img/logo.png").headers["etag"]
    container.sites.publish(
        "rosas-bakery", SiteFiles.build({**FILES, "img/hero.jpg": b"\xff\xd8\xff new"}, FileLimits())
    )
    assert client.get("/rosas-bakery/img/hero.jpg").content == b"\xff\xd8\xff new"
    assert client.get("/rosas-bakery/img/logo.png").headers["etag"] == before


# -- every reference of a page loads -------------------------------------------------------


def references(html: str) -> list[str]:
    """Every URL a browser would fetch or follow from a page (src, href, srcset, poster,
    og:image, CSS url() in <style> and style attributes)."""
    tree = LexborHTMLParser(html)
    found: list[str] = []
    for node in tree.css("[src], [href], [poster], [srcset], meta[content], [style], style"):
        for name in ("src", "href", "poster"):
            if node.attributes.get(name):
                found.append(node.attributes[name] or "")
        if node.attributes.get("srcset"):
            found.extend(c.strip().split(" ")[0] for c in (node.attributes["srcset"] or "").split(", "))
        if node.tag == "meta" and (node.attributes.get("property") or "").startswith("og:image"):
            found.append(node.attributes.get("content") or "")
        if node.attributes.get("style"):
            found.extend(css_references(node.attributes["style"] or ""))
        if node.tag == "style":
            found.extend(css_references(node.text()))
    return found


def css_references(css: str) -> list[str]:
    found = []

    def walk(nodes: list[tinycss2.ast.Node]) -> None:
        for node in nodes:
            if isinstance(node, tinycss2.ast.URLToken):
                found.append(node.value)
            elif isinstance(node, tinycss2.ast.FunctionBlock):
                if node.lower_name == "url":
                    found.extend(a.value for a in node.arguments if isinstance(a, tinycss2.ast.StringToken))
                else:
                    walk(node.arguments)
            elif hasattr(node, "content") and isinstance(node.content, list):
                walk(node.content)

    walk(tinycss2.parse_component_value_list(css))
    return found


def same_site_paths(page_url: str, refs: list[str], prefix: str) -> set[str]:
    """The refs a browser would resolve to this site (absolute URLs and other schemes aside)."""
    paths = set()
    for ref in refs:
        url = urlsplit(urljoin(page_url, ref))
        if url.scheme == "http" and url.netloc == "testserver" and url.path.startswith(prefix):
            paths.add(url.path + (f"?{url.query}" if url.query else ""))
    return paths


def crawl(client: Client, slug: str) -> set[str]:
    """Load /{slug} as a browser would: every page, stylesheet and file it refers to,
    recursively; asserts each answers 200. Returns what was fetched."""
    seen: set[str] = set()
    todo = [f"/{slug}"]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        kind = response.headers["content-type"]
        refs: list[str] = []
        if kind.startswith("text/html"):
            refs = references(response.text)
        elif kind.startswith("text/css"):
            refs = css_references(response.text)
        todo.extend(same_site_paths(f"http://testserver{url}", refs, f"/{slug}"))
    return seen


def test_every_reference_of_a_folder_site_loads_under_its_slug(shop: tuple[Client, Container]) -> None:
    client, container = shop
    folder_site(container)
    fetched = {unquote(urlsplit(url).path) for url in crawl(client, "rosas-bakery")}
    # Every file of the site was reached from the page, through pages and stylesheets.
    assert fetched >= {"/rosas-bakery", *(f"/rosas-bakery/{p}" for p in FILES if p != "index.html")}


def test_every_reference_of_the_demo_sites_loads(shop: tuple[Client, Container]) -> None:
    client, container = shop
    load_demo_sites(container.sites)
    for slug in DEMO_SLUGS:
        fetched = crawl(client, slug)
        assert {urlsplit(u).path for u in fetched} >= {f"/{slug}", f"/{slug}/styles.css", f"/{slug}/app.js"}


def test_every_reference_resolves_at_a_domain_root_too(container: Container) -> None:
    """What custom domains will serve at ``/`` is computed with the version: every
    reference of the root rendering, resolved from ``/``, names a file of the version."""
    folder_site(container)
    site, version = container.sites.files_of("rosas-bakery")
    paths = {f.path for f in version.files}
    for file in version.files:
        if not file.content_type.startswith(("text/html", "text/css")):
            assert file.root_digest == file.digest
            continue
        body = container.sites.body(file.root_digest).decode()
        refs = references(body) if file.path.endswith(".html") else css_references(body)
        page_url = f"http://testserver/{file.path}"
        resolved = same_site_paths(page_url, refs, "/")
        assert resolved, file.path
        for url in resolved:
            path = unquote(urlsplit(url).path).lstrip("/")
            assert path in paths or path == "", (file.path, url)
    assert site.slug == "rosas-bakery"


# -- isolation from the portal (issue 9, item 5) --------------------------------------------

SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox"


def test_sites_on_the_portals_origin_are_sandboxed(shop: tuple[Client, Container]) -> None:
    client, container = shop
    folder_site(container)
    for path in (
        "/rosas-bakery",
        "/rosas-bakery/about.html",
        "/rosas-bakery/img/logo.png",
        "/rosas-bakery/x.svg",
    ):
        response = client.get(path)
        if response.status_code == 404:
            continue
        csp = response.headers["content-security-policy"]
        assert csp == SANDBOX, path
        assert "allow-same-origin" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    # Fonts and module scripts are fetched from the page's opaque origin: CORS must allow it.
    assert client.get("/rosas-bakery/fonts/r.woff2").headers["access-control-allow-origin"] == "*"
    revalidated = client.get(
        "/rosas-bakery", headers={"If-None-Match": client.get("/rosas-bakery").headers["etag"]}
    )
    assert revalidated.status_code == 304
    assert revalidated.headers["content-security-policy"] == SANDBOX


def test_an_svg_on_the_portals_origin_is_sandboxed_too(shop: tuple[Client, Container]) -> None:
    """An SVG opened directly is a document that can run script."""
    client, container = shop
    folder_site(
        container, **{"img/x.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'}
    )
    response = client.get("/rosas-bakery/img/x.svg")
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["content-security-policy"] == SANDBOX


@pytest.mark.parametrize(
    "settings",
    [
        {"sites_base_url": "https://sites.example.test"},
        {"sites_domain": "sites.example.test"},
    ],
)
def test_sites_on_an_origin_of_their_own_are_served_only_there_and_unsandboxed(
    make_app: MakeApp, settings: dict[str, str]
) -> None:
    app, container = make_app(public_url="https://shop.example.test", **settings)
    folder_site(container)
    with TestClient(app) as client:
        on_sites = client.get("/rosas-bakery", headers={"Host": "sites.example.test"})
        assert on_sites.status_code == 200
        assert "content-security-policy" not in on_sites.headers
        assert on_sites.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        for path in ("/rosas-bakery", "/rosas-bakery/img/logo.png"):
            assert client.get(path, headers={"Host": "shop.example.test"}).status_code == 404, path
        for path in ("/api/v1/sites/rosas-bakery", "/schema/openapi.json", "/portal/forgot-password"):
            assert client.get(path, headers={"Host": "sites.example.test"}).status_code == 404, path
            assert client.get(path, headers={"Host": "shop.example.test"}).status_code == 200, path


def test_a_sites_base_url_on_the_public_host_keeps_one_sandboxed_origin(make_app: MakeApp) -> None:
    app, container = make_app(
        public_url="https://shop.example.test", sites_base_url="https://shop.example.test/"
    )
    folder_site(container)
    with TestClient(app) as client:
        response = client.get("/rosas-bakery", headers={"Host": "shop.example.test"})
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == SANDBOX
        assert (
            client.get("/api/v1/sites/rosas-bakery", headers={"Host": "shop.example.test"}).status_code == 200
        )


def test_fingerprints_in_served_pages_match_what_the_files_serve(shop: tuple[Client, Container]) -> None:
    client, container = shop
    folder_site(container)
    page = client.get("/rosas-bakery").text
    for ref in re.findall(r'(?:src|href)="(/rosas-bakery/[^"]+\?v=[0-9a-f]{16})"', page):
        response = client.get(ref)
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", ref
        assert response.headers["etag"].strip('"').startswith(ref.rsplit("v=", 1)[1]), ref


def test_sites_are_read_only_and_reserved_words_stay_unrouted(shop: tuple[Client, Container]) -> None:
    client, container = shop
    folder_site(container)
    for path in ("/rosas-bakery", "/rosas-bakery/img/logo.png"):
        refused = client.post(path)
        assert refused.status_code == 405, path
        assert {"GET", "HEAD"} <= set(refused.headers["allow"].replace(" ", "").split(","))
        assert "POST" not in refused.headers["allow"]
    for path in ("/static/x/y", "/internal/anything", "/api/v1/nope/nope", "/healthz/x"):
        assert client.post(path).status_code == 404, path


def test_a_sites_url_on_the_public_host_but_another_port_is_still_sandboxed(make_app: MakeApp) -> None:
    """The host split goes by host name: on one host name, whatever the port, a site is
    also reachable on the portal's origin, so it is sandboxed there."""
    app, container = make_app(public_url="http://127.0.0.1:8000", sites_base_url="http://127.0.0.1:8001")
    folder_site(container)
    with TestClient(app) as client:
        for host in ("127.0.0.1:8000", "127.0.0.1:8001"):
            response = client.get("/rosas-bakery", headers={"Host": host})
            assert response.headers["content-security-policy"] == SANDBOX, host


def test_the_banner_of_a_page_served_as_uploaded_goes_where_the_parser_puts_it(
    shop: tuple[Client, Container],
) -> None:
    client, container = shop
    tricky = b"<body><p>hi</p><script>document.write('</body></html>"  # nothing to rewrite
    container.sites.create_preview(
        "tricky-site", "Tricky", SiteFiles.build({"index.html": tricky}, FileLimits())
    )
    page = client.get("/tricky-site").text
    body = LexborHTMLParser(page).body
    assert body is not None
    tags = [n.tag for n in body.iter() if n.tag != "-comment"]
    assert tags == ["p", "script", "div"]  # the banner, outside the script
    assert body.css_first("div[data-webmagic-banner]") is not None
