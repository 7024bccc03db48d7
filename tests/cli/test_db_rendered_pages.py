"""Migration 0013 back-fills the stored pages when ``webmagic db upgrade`` runs it, and
``db upgrade`` renders again the banners a price change made stale."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import Result

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.lifecycle import Trigger
from webmagic_core.ports import SiteHead
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import Actor, SiteContent

Invoke = Callable[..., Result]


def heads(slugs: list[str]) -> dict[str, SiteHead | None]:
    container = bootstrap(load_settings())
    try:
        with container.database.unit_of_work() as work:
            return {slug: work.sites.head_by_slug(slug) for slug in slugs}
    finally:
        container.close()


def test_upgrade_back_fills_every_page_as_writing_the_versions_would_have(
    invoke: Invoke, service: SiteService
) -> None:
    slugs = ["alpha-bakery", "bravo-plumbing", "charlie-cafe"]
    for slug in slugs:
        service.create_preview(slug, slug.title(), SiteContent(html=f"<h1>{slug}</h1>"))
    service.publish("alpha-bakery", SiteContent(html="<h1>alpha, version 2</h1>"))
    with service.uow() as work:  # bravo is sold: it serves its clean page
        site = work.sites.get_by_slug("bravo-plumbing", for_update=True)
        assert site is not None
        site.apply(Trigger.PURCHASE_PAID, cause="test", actor=Actor.SYSTEM, at=service.clock.now())
        work.sites.save(site)
        work.commit()
    written = heads(slugs)
    assert all(head is not None and head.page_digest for head in written.values())

    container = bootstrap(load_settings())
    try:
        container.database.downgrade("0012")  # as a database made before stored pages
    finally:
        container.close()
    result = invoke("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "Upgraded from 0012" in result.output
    assert heads(slugs) == written


def test_upgrade_renders_again_the_banners_of_another_price(
    invoke: Invoke, service: SiteService, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.create_preview("alpha-bakery", "Alpha Bakery", SiteContent(html="<h1>alpha</h1>"))
    old = heads(["alpha-bakery"])["alpha-bakery"]
    assert old is not None

    monkeypatch.setenv("WEBMAGIC_SITE_PRICE_CENTS", "12345")
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    new = heads(["alpha-bakery"])["alpha-bakery"]
    container = bootstrap(load_settings())
    try:
        assert new is not None
        assert new.page_key == container.banner.key != old.page_key
        assert new.page_digest != old.page_digest
        body = container.site_directory.page_body(new.page_digest or "")
        assert body is not None
        assert b"$123.45" in body
    finally:
        container.close()


def test_the_migration_renders_banners_only_when_given_the_settings_and_reports_progress(
    service: SiteService,
) -> None:
    for slug in ("alpha-bakery", "bravo-plumbing", "charlie-cafe"):
        service.create_preview(slug, slug.title(), SiteContent(html=f"<h1>{slug}</h1>"))
    written = heads(["alpha-bakery", "bravo-plumbing", "charlie-cafe"])
    container = bootstrap(load_settings())
    try:
        database = container.database
        database.downgrade("0012")
        database.upgrade()  # the bare way (as the alembic command): no banner settings
        with database.unit_of_work() as work:
            bare = work.sites.head_by_slug("alpha-bakery")
        assert bare is not None
        assert bare.page_digest is None  # hosting renders it per request meanwhile

        database.downgrade("0012")
        reports: list[tuple[int, int]] = []
        database.upgrade(
            attributes={"preview_banner": container.banner, "progress": lambda *done: reports.append(done)}
        )
        assert reports[0] == (0, 3)
        assert reports[-1] == (3, 3)
    finally:
        container.close()
    assert heads(["alpha-bakery", "bravo-plumbing", "charlie-cafe"]) == written
