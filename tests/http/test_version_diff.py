"""``GET /api/v1/customer/sites/{slug}/versions/{number}/diff``: every file a version
changed, text line by line, images and fonts by what happened and their sizes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from payments_support import Shop, open_shop
from subscriptions_support import API, bearer, own_site

from webmagic_core.site_files import FileLimits, SiteFiles

ROSA, ANA = "rosa@example.com", "ana@example.com"
LOGO = b"\x89PNG" + bytes(100)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data") as running:
        yield running


@pytest.fixture
def rosa(shop: Shop) -> str:
    token = shop.signed_in(ROSA)
    own_site(shop, token, "sunrise-bakery", "Sunrise Bakery", email=ROSA)
    return token


def publish(shop: Shop, files: dict[str, bytes]) -> int:
    return shop.container.sites.publish("sunrise-bakery", SiteFiles.build(files, FileLimits())).number


def test_a_version_diff_covers_text_and_binary_files(shop: Shop, rosa: str) -> None:
    two = publish(
        shop,
        {
            "index.html": b"<h1>Sunrise</h1>\n<p>Open 7-5</p>\n",
            "css/main.css": b"h1{}\n",
            "img/logo.png": LOGO,
        },
    )
    three = publish(
        shop,
        {
            "index.html": b"<h1>Sunrise</h1>\n<p>Open 6-6</p>\n",
            "img/logo.png": LOGO + b"v2",
            "notes.txt": b"new",
        },
    )
    response = shop.client.get(f"{API}/sunrise-bakery/versions/{three}/diff", headers=bearer(rosa))
    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"]) == (two, three)
    files = {f["name"]: f for f in body["files"]}
    assert set(files) == {"index.html", "css/main.css", "img/logo.png", "notes.txt"}
    page = files["index.html"]
    assert (page["change"], page["binary"], page["added"], page["removed"]) == ("changed", False, 1, 1)
    assert "-<p>Open 7-5</p>\n+<p>Open 6-6</p>\n" in page["unified_diff"]
    assert page["unified_diff"].startswith("--- a/index.html\n+++ b/index.html\n")
    assert (files["css/main.css"]["change"], files["css/main.css"]["removed"]) == ("removed", 1)
    assert files["notes.txt"]["unified_diff"].endswith("+new\n\\ No newline at end of file\n")
    logo = files["img/logo.png"]
    assert (logo["change"], logo["binary"], logo["unified_diff"]) == ("changed", True, "")
    assert (logo["size_before"], logo["size_after"]) == (len(LOGO), len(LOGO) + 2)


def test_unchanged_files_are_left_out_and_the_first_version_is_against_nothing(shop: Shop, rosa: str) -> None:
    first = shop.client.get(f"{API}/sunrise-bakery/versions/1/diff", headers=bearer(rosa)).json()
    assert first["from"] is None
    assert all(f["change"] == "added" for f in first["files"])
    assert {f["name"] for f in first["files"]} >= {"index.html"}
    site = shop.container.sites.details("sunrise-bakery").site
    _, same = shop.container.sites.version_files(site.id, site.current_version)
    number = publish(shop, dict(same.bodies))
    assert (
        shop.client.get(f"{API}/sunrise-bakery/versions/{number}/diff", headers=bearer(rosa)).json()["files"]
        == []
    )


def test_unknown_versions_and_other_customers_sites_are_404(shop: Shop, rosa: str) -> None:
    ana = shop.signed_in(ANA)
    assert shop.client.get(f"{API}/sunrise-bakery/versions/9/diff", headers=bearer(rosa)).status_code == 404
    assert shop.client.get(f"{API}/sunrise-bakery/versions/1/diff", headers=bearer(ana)).status_code == 404
    assert shop.client.get(f"{API}/sunrise-bakery/versions/1/diff").status_code == 401
