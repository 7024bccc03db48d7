"""The site-folder reader and the demo loader (shared by ``sites import`` and ``demo``), on fakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from webmagic_adapters.demo import DEMO_SLUGS, load_demo_sites
from webmagic_adapters.site_folders import default_business_name, read_site_folder
from webmagic_core.errors import ValidationError
from webmagic_core.services.sites import SiteService
from webmagic_core.testing.fakes import FakeClock, FakeUnitOfWorkFactory


@pytest.fixture
def sites() -> SiteService:
    return SiteService(uow=FakeUnitOfWorkFactory(), clock=FakeClock())


def test_load_demo_sites_is_idempotent(sites: SiteService) -> None:
    assert load_demo_sites(sites) == [(slug, True) for slug in DEMO_SLUGS]
    assert load_demo_sites(sites) == [(slug, False) for slug in DEMO_SLUGS]
    assert [s.slug for s in sites.list_sites()] == list(DEMO_SLUGS)


def test_load_demo_sites_adds_only_the_missing_ones(sites: SiteService) -> None:
    load_demo_sites(sites)
    sites.archive("rapidflow-plumbing")

    assert dict(load_demo_sites(sites)) == dict.fromkeys(DEMO_SLUGS, False)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Rosa&#39;s Bakery | Fresh bread daily", "Rosa's Bakery"),
        ("Joe's Garage \u2014 Tyres & brakes", "Joe's Garage"),
        ("  Multi\n   line   <b>title</b> ", "Multi line title"),
        ("Pre-war Antiques", "Pre-war Antiques"),
        ("", "Corner Shop"),
        (" | ", "Corner Shop"),
        ("x" * 300, "Corner Shop"),
    ],
)
def test_business_name_from_the_title(title: str, expected: str) -> None:
    assert default_business_name("corner-shop", f"<html><title>{title}</title></html>") == expected


def test_business_name_without_a_title() -> None:
    assert default_business_name("corner-shop", "<h1>Hello</h1>") == "Corner Shop"


def test_site_file_names_the_business(tmp_path: Path) -> None:
    folder = tmp_path / "corner-shop"
    folder.mkdir()
    (folder / "index.html").write_text("<title>Ignored</title>", encoding="utf-8")
    (folder / "site.toml").write_text('business_name = "  The   Corner Shop "', encoding="utf-8")

    found = read_site_folder(folder)

    assert (found.slug, found.business_name) == ("corner-shop", "The Corner Shop")
    assert list(found.files.bodies) == ["index.html"]  # the site file is not one of the site's files


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"site.json": "{}", "site.toml": ""}, "keep one"),
        ({"site.json": "[1, 2]"}, "must hold an object"),
        ({"site.json": '{"business_name": 7}'}, "must be a string"),
        ({"site.json": '{"business_name": "  "}'}, "the business name is empty"),
        ({"site.json": "{nope"}, "site.json is not valid JSON"),
        ({"styles.css": b"\xff\xfe"}, "styles.css: is not valid UTF-8 text"),
        ({"app.js": b"\xc3\x28"}, "app.js: is not valid UTF-8 text"),
    ],
)
def test_bad_folders_are_refused(tmp_path: Path, files: dict[str, str | bytes], message: str) -> None:
    folder = tmp_path / "corner-shop"
    folder.mkdir()
    (folder / "index.html").write_text("<p>hi</p>", encoding="utf-8")
    for name, data in files.items():
        path = folder / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")

    with pytest.raises(ValidationError, match=message):
        read_site_folder(folder)
