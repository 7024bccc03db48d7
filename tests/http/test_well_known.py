"""HEAD on every GET route, robots.txt, the icons, and an API docs page that needs no CDN."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/schema", "/schema/openapi.json", "/robots.txt"])
def test_head_answers_like_get_without_a_body(client: Client, path: str) -> None:
    got = client.get(path)
    head = client.head(path)
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


def test_head_on_a_post_only_route_is_still_405(client: Client) -> None:
    assert client.head("/api/v1/customer/login").status_code == 405


def test_head_on_an_unknown_slug_is_404(client: Client) -> None:
    assert client.head("/no-such-site").status_code == 404


def test_robots_keeps_crawlers_out_of_the_app_pages_but_names_no_site(client: Client) -> None:
    response = client.get("/robots.txt")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    rules = [line for line in response.text.splitlines() if line and not line.startswith("#")]
    assert rules[0] == "User-agent: *"
    assert {"Disallow: /api/", "Disallow: /portal", "Disallow: /purchase/", "Disallow: /schema"} <= set(rules)
    assert "Disallow: /\n" not in response.text  # sites themselves stay crawlable


@pytest.mark.parametrize(
    ("path", "media_type", "magic"),
    [
        ("/favicon.ico", "image/x-icon", b"\x00\x00\x01\x00"),
        ("/favicon.svg", "image/svg+xml", b"<svg"),
        ("/apple-touch-icon.png", "image/png", b"\x89PNG"),
    ],
)
def test_icons_are_served_with_their_types(client: Client, path: str, media_type: str, magic: bytes) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.content.startswith(magic)
    assert "max-age" in response.headers["cache-control"]


def test_the_docs_page_loads_everything_from_the_app(client: Client) -> None:
    page = client.get("/schema").text
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert len(sources) >= 4, f"the docs page references too little: {sources}"
    assert all(s.startswith(("/schema/assets/", "/favicon.")) for s in sources), sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert asset.content
        assert "max-age" in asset.headers["cache-control"]


def test_the_docs_assets_folder_serves_nothing_else(client: Client) -> None:
    # The package's own modules sit one level above its static folder: never reachable.
    for escape in ("../core.py", "..%2Fcore.py", "%2e%2e/core.py", "../../pyproject.toml"):
        assert client.get(f"/schema/assets/{escape}").status_code == 404, escape
