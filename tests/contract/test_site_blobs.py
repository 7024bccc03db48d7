"""Content-addressed file bodies behind the SiteRepository port: one suite, run on the fake,
SQLite and PostgreSQL. Same bytes are stored once whichever version or site names them;
only ``collect_garbage`` deletes, and only what no version names."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from webmagic_adapters.preview_banner import HtmlPreviewBanner
from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.pages import PageVariant
from webmagic_core.ports import BlobUsage, UnitOfWorkFactory
from webmagic_core.services.sites import SiteService
from webmagic_core.site_files import FileLimits, SiteFiles, digest_of, prepare_files
from webmagic_core.sites import Actor, Site, SiteContent, SiteVersion, VersionCause
from webmagic_core.testing import FakeClock, FakeUnitOfWorkFactory
from webmagic_core.testing.sites import new_version


class Backend(Protocol):  # conftest.Backend
    @property
    def database(self) -> Database | None: ...

    @property
    def uow(self) -> UnitOfWorkFactory: ...


T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
LOGO = bytes(range(256)) * 40  # 10 KB, not text
PAGE = b"<!doctype html><img src='img/logo.png'>"


def files(**extra: bytes) -> SiteFiles:
    return SiteFiles.build({"index.html": PAGE, "img/logo.png": LOGO, **extra}, FileLimits())


def add_site(uow: UnitOfWorkFactory, slug: str, *versions: SiteFiles) -> Site:
    site = Site.new_preview(slug=slug, business_name=slug, now=T0, actor=Actor.ADMIN, cause="t")
    with uow() as work:
        work.sites.add(site)
        for number, content in enumerate(versions, start=1):
            work.sites.add_version(*new_version(site.id, number, content, created_at=T0))
        work.commit()
    return site


def test_same_bytes_in_many_versions_and_sites_are_stored_once(uow: UnitOfWorkFactory) -> None:
    add_site(uow, "alpha", files(), files(**{"notes.txt": b"v2"}), files(**{"notes.txt": b"v3"}))
    add_site(uow, "bravo", files(**{"notes.txt": b"v2"}))
    with uow() as work:
        usage = work.sites.blob_usage()
        stored = work.sites.get_body(digest_of(LOGO))
    # index.html, the logo, and the two distinct notes: four bodies for nine files.
    assert usage == BlobUsage(blobs=4, bytes=len(PAGE) + len(LOGO) + 2 + 2)
    assert stored == LOGO


def test_version_files_read_back_in_path_order_with_their_digests(uow: UnitOfWorkFactory) -> None:
    content = files(**{"css/main.css": b"body{}", "Z.txt": b"z"})
    site = add_site(uow, "alpha", content)
    with uow() as work:
        version = work.sites.get_version(site.id, 1)
    assert version is not None
    assert [f.path for f in version.files] == ["Z.txt", "css/main.css", "img/logo.png", "index.html"]
    logo = version.file("img/logo.png")
    assert logo is not None
    assert (logo.digest, logo.size, logo.content_type) == (digest_of(LOGO), len(LOGO), "image/png")


def test_a_version_naming_a_body_neither_given_nor_stored_is_refused(uow: UnitOfWorkFactory) -> None:
    site = add_site(uow, "alpha", files())
    version, bodies = new_version(site.id, 2, files(**{"new.txt": b"new"}), created_at=T0)
    del bodies[digest_of(b"new")]
    with uow() as work, pytest.raises(ValueError, match=digest_of(b"new")):
        work.sites.add_version(version, bodies)
    # Bodies already stored need not be given again.
    version, bodies = new_version(site.id, 2, files(), created_at=T0)
    with uow() as work:
        work.sites.add_version(version, {})
        work.commit()
    with uow() as work:
        assert work.sites.get_version(site.id, 2) == version


def test_garbage_collection_deletes_only_bodies_no_version_names(uow: UnitOfWorkFactory) -> None:
    add_site(uow, "alpha", files())
    other = Site.new_preview(slug="bravo", business_name="b", now=T0, actor=Actor.ADMIN, cause="t")
    # A served body that differs from the uploaded one is named too (slug_digest, root_digest).
    rewritten = prepare_files(
        files(),
        {"index.html": b"<img src='/bravo/img/logo.png'>"},
        {"index.html": b"<img src='/img/logo.png'>"},
    )
    with uow() as work:
        work.sites.add(other)
        work.sites.add_version(
            SiteVersion(other.id, 1, rewritten.files, VersionCause.IMPORT, Actor.ADMIN, T0),
            {**rewritten.bodies, digest_of(b"orphan"): b"orphan"},
        )
        work.commit()
    with uow() as work:
        before = work.sites.blob_usage()
        freed = work.sites.collect_garbage()
        work.commit()
    with uow() as work:
        assert work.sites.blob_usage() == before  # nothing was unused: bodies are stored only when named
        assert freed == BlobUsage(0, 0)
        for body in (PAGE, LOGO, b"<img src='/bravo/img/logo.png'>", b"<img src='/img/logo.png'>"):
            assert work.sites.get_body(digest_of(body)) == body
        assert work.sites.get_body(digest_of(b"orphan")) is None


def forget_site(backend: Backend, site: Site) -> None:
    """What an operator deleting a site's rows by hand does (the product never deletes)."""
    if backend.database is None:
        fake = backend.uow
        assert isinstance(fake, FakeUnitOfWorkFactory)
        store = fake.store
        for key in [key for key in store.versions if key[0] == site.id]:
            del store.versions[key]
        for page_key in [key for key in store.pages if key[0] == site.id]:
            del store.pages[page_key]
        del store.sites[site.id]
        return
    with backend.database.engine.begin() as connection:
        connection.execute(delete(tables.sites).where(tables.sites.c.id == site.id))


def test_garbage_collection_frees_what_a_deleted_site_alone_used(backend: Backend) -> None:
    uow = backend.uow
    add_site(uow, "alpha", files(**{"shared.txt": b"shared"}))
    gone = add_site(uow, "bravo", files(**{"shared.txt": b"shared", "own.txt": b"only bravo"}))
    forget_site(backend, gone)
    with uow() as work:
        freed = work.sites.collect_garbage()
        work.commit()
    assert freed == BlobUsage(blobs=1, bytes=len(b"only bravo"))
    with uow() as work:
        assert work.sites.get_body(digest_of(b"only bravo")) is None
        for kept in (PAGE, LOGO, b"shared"):
            assert work.sites.get_body(digest_of(kept)) == kept
        assert work.sites.collect_garbage() == BlobUsage(0, 0)


def test_garbage_collection_is_undone_by_a_rollback(backend: Backend) -> None:
    uow = backend.uow
    gone = add_site(uow, "bravo", files(**{"own.txt": b"only bravo"}))
    forget_site(backend, gone)
    with uow() as work:
        assert work.sites.collect_garbage().blobs == 3
    with uow() as work:
        assert work.sites.get_body(digest_of(b"only bravo")) == b"only bravo"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(st.binary(max_size=64), min_size=1, max_size=6))
def test_dedup_property_same_bytes_one_blob(uow: UnitOfWorkFactory, bodies: list[bytes]) -> None:
    """However the same bytes are spread over paths, versions and sites: one body per
    distinct content, and each reads back exactly."""
    with uow() as work:
        before = work.sites.blob_usage()
    slug = f"s{abs(hash(tuple(bodies))) % 10**12}"
    content = SiteFiles.build(
        {"index.html": PAGE, **{f"f{i}.bin.png": body for i, body in enumerate(bodies)}}, FileLimits()
    )
    with uow() as work:
        existing = {b for b in [PAGE, *bodies] if work.sites.get_body(digest_of(b)) is not None}
        if work.sites.get_by_slug(slug) is not None:
            return
    add_site(uow, slug, content, content)
    with uow() as work:
        after = work.sites.blob_usage()
        for body in bodies:
            assert work.sites.get_body(digest_of(body)) == body
    new = {PAGE, *bodies} - existing
    assert after.blobs - before.blobs == len(new)
    assert after.bytes - before.bytes == sum(map(len, new))


def test_garbage_collection_keeps_the_rendered_banner_pages(uow: UnitOfWorkFactory) -> None:
    rewriter = ParserSiteRewriter()
    banner = HtmlPreviewBanner(rewriter, price="$495.00", purchase_base_url="https://shop.example.test")
    service = SiteService(uow=uow, clock=FakeClock(), rewriter=rewriter, banner=banner)
    site = service.create_preview("alpha", "Alpha", SiteContent(html="<h1>alpha</h1>"))
    with uow() as work:
        pages = work.sites.rendered_pages(site.id, 1)
        assert {page.variant for page in pages} == {PageVariant.BANNER, PageVariant.CLEAN}
        work.sites.collect_garbage()
        work.commit()
    with uow() as work:
        for page in pages:
            body = work.sites.get_body(page.digest)
            assert body is not None
            assert digest_of(body) == page.digest
