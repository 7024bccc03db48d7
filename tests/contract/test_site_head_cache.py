"""PostgreSQL: the site directory's in-memory heads and their invalidation (LISTEN/NOTIFY).

A head is kept after its first read and answered from memory (``cached_head``) until the
database announces a change of it (revision 0015's triggers), whoever committed it; a
commit made in this process is seen on the very next read; a lost listening connection
drops everything, and silence longer than the trust window stops the cache being used.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from contract_support import open_database

from webmagic_adapters.sqlalchemy import head_cache, site_directory
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.head_cache import HeadCache
from webmagic_adapters.sqlalchemy.site_directory import SqlSiteDirectory
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.ports import SiteHead
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import SiteContent
from webmagic_core.testing import FakeClock

pytestmark = pytest.mark.postgres

SLUG = "rosas-bakery"


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    return open_database(request, "postgresql", tmp_path)


@pytest.fixture
def directory(database: Database) -> Iterator[SqlSiteDirectory]:
    site_directory = SqlSiteDirectory(database.engine)
    yield site_directory
    site_directory.close()


def libpq_url(database: Database) -> str:
    url = database.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def write_elsewhere(database: Database, sql: str) -> None:
    """Commit ``sql`` from another process (none of this process's engines sees it)."""
    script = (
        "import psycopg, sys\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
        "    c.execute(sys.argv[2])\n"
    )
    subprocess.run([sys.executable, "-c", script, libpq_url(database), sql], check=True, timeout=60)


def wait_until_forgotten(directory: SqlSiteDirectory, slug: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while directory.cached_head(slug) is not None:
        assert time.monotonic() < deadline, "the change was never announced"
        time.sleep(0.01)


def cached(directory: SqlSiteDirectory, slug: str, timeout: float = 5.0) -> SiteHead | None:
    """``cached_head``, asked again while it answers None: a lookup does not wait for the
    lock, which the background fill of the heads holds for a moment now and then."""
    deadline = time.monotonic() + timeout
    while (head := directory.cached_head(slug)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return head


def name_of(head: SiteHead | None) -> str:
    assert head is not None
    return head.business_name


def test_a_head_is_kept_and_forgotten_when_another_process_changes_it(
    database: Database, directory: SqlSiteDirectory
) -> None:
    service = SiteService(uow=database.unit_of_work, clock=FakeClock())
    service.create_preview(SLUG, "Rosa's Bakery", SiteContent(html="<h1>1</h1>"))
    assert directory.cached_head(SLUG) is None  # never read yet
    assert name_of(directory.head_by_slug(SLUG)) == "Rosa's Bakery"
    assert name_of(cached(directory, SLUG)) == "Rosa's Bakery"  # from memory now

    write_elsewhere(database, f"UPDATE sites SET business_name = 'Renamed' WHERE slug = '{SLUG}'")
    wait_until_forgotten(directory, SLUG)
    assert name_of(directory.head_by_slug(SLUG)) == "Renamed"

    # A new stored page (the head's digest) is announced as well, and so is a new slug.
    write_elsewhere(
        database, f"DELETE FROM rendered_pages WHERE site_id = (SELECT id FROM sites WHERE slug = '{SLUG}')"
    )
    wait_until_forgotten(directory, SLUG)
    head = directory.head_by_slug(SLUG)
    assert head is not None
    assert head.page_digest is None
    write_elsewhere(database, f"UPDATE sites SET slug = 'rosas' WHERE slug = '{SLUG}'")
    wait_until_forgotten(directory, SLUG)
    assert directory.head_by_slug(SLUG) is None
    assert name_of(directory.head_by_slug("rosas")) == "Renamed"


def test_a_commit_in_this_process_is_seen_on_the_very_next_read(
    database: Database, directory: SqlSiteDirectory
) -> None:
    writer = Database(database.engine.url.render_as_string(hide_password=False))
    try:
        service = SiteService(uow=writer.unit_of_work, clock=FakeClock())
        service.create_preview(SLUG, "Rosa's Bakery", SiteContent(html="<h1>1</h1>"))
        for number in range(2, 12):
            assert directory.head_by_slug(SLUG) is not None
            service.publish(SLUG, SiteContent(html=f"<h1>{number}</h1>"))
            # No waiting: the next read catches up with everything committed before it.
            head = directory.head_by_slug(SLUG)
            assert head is not None
            assert head.current_version == number
    finally:
        writer.dispose()


def test_a_lost_listening_connection_drops_the_heads_and_misses_nothing(
    database: Database, directory: SqlSiteDirectory
) -> None:
    service = SiteService(uow=database.unit_of_work, clock=FakeClock())
    service.create_preview(SLUG, "Rosa's Bakery", SiteContent(html="<h1>1</h1>"))
    assert name_of(directory.head_by_slug(SLUG)) == "Rosa's Bakery"
    heads = directory._heads
    assert heads is not None
    assert heads._connection is not None
    pid = heads._connection.info.backend_pid
    with psycopg.connect(libpq_url(database), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # Changed while nobody listens: the notification is lost with the connection.
        admin.execute("UPDATE sites SET business_name = 'Renamed' WHERE slug = %s", (SLUG,))
    deadline = time.monotonic() + 5
    while directory.cached_head(SLUG) is not None:  # the next look at the socket sees it closed
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert len(heads) == 0
    time.sleep(head_cache.RECONNECT_S)
    assert name_of(directory.head_by_slug(SLUG)) == "Renamed"
    assert name_of(cached(directory, SLUG)) == "Renamed"  # listening again


def test_silence_longer_than_the_trust_window_stops_the_cache_being_used(database: Database) -> None:
    now = [1000.0]
    url = libpq_url(database)
    cache = HeadCache(lambda: psycopg.connect(url, autocommit=True), clock=lambda: now[0])
    try:
        assert cache.ensure()  # connected, and a probe came back
        head = SiteHead(
            id=uuid.uuid4(), slug=SLUG, business_name="Rosa", status=SiteStatus.PREVIEW, current_version=1
        )
        cache.store(SLUG, head, cache.epoch)
        assert cache.lookup(SLUG) == head
        # Probes go out every PROBE_S while lookups come; none has come back yet (the clock
        # is frozen past the window): the cache is not used until one does.
        now[0] += head_cache.TRUST_S + 1
        assert cache.lookup(SLUG) is None
        assert cache.ensure()  # waits for a probe: everything before it was heard
        assert cache.lookup(SLUG) == head
    finally:
        cache.close()


def test_every_head_is_loaded_in_the_background_after_the_first_read(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(site_directory, "FILL_BATCH", 2)  # several pages of heads
    directory = SqlSiteDirectory(database.engine)
    try:
        _check_the_fill(database, directory)
    finally:
        directory.close()


def _check_the_fill(database: Database, directory: SqlSiteDirectory) -> None:
    service = SiteService(uow=database.unit_of_work, clock=FakeClock())
    slugs = [f"bakery-{number}" for number in range(5)]
    for slug in slugs:
        service.create_preview(slug, f"Bakery {slug}", SiteContent(html="<h1>1</h1>"))
    assert directory.cached_head(slugs[3]) is None
    assert name_of(directory.head_by_slug(slugs[0])) == "Bakery bakery-0"
    deadline = time.monotonic() + 10
    while any(directory.cached_head(slug) is None for slug in slugs):
        assert time.monotonic() < deadline, "the heads were not loaded"
        time.sleep(0.01)
    for slug in slugs:
        assert cached(directory, slug) == directory.head_by_slug(slug)
    # Still forgotten when changed.
    write_elsewhere(database, "UPDATE sites SET business_name = 'Renamed' WHERE slug = 'bakery-4'")
    wait_until_forgotten(directory, "bakery-4")
    assert name_of(directory.head_by_slug("bakery-4")) == "Renamed"


def test_a_head_announced_during_a_fill_is_not_kept_from_before(database: Database) -> None:
    service = SiteService(uow=database.unit_of_work, clock=FakeClock())
    for slug in ("old-bakery", "other-bakery"):
        service.create_preview(slug, "Before", SiteContent(html="<h1>1</h1>"))
    url = libpq_url(database)
    cache = HeadCache(lambda: psycopg.connect(url, autocommit=True))
    try:
        assert cache.ensure()
        generation = cache.begin_fill()
        assert generation is not None
        read_before = [
            SiteHead(
                id=uuid.uuid4(),
                slug=slug,
                business_name="Before",
                status=SiteStatus.PREVIEW,
                current_version=1,
            )
            for slug in ("old-bakery", "other-bakery")
        ]
        write_elsewhere(database, "UPDATE sites SET business_name = 'After' WHERE slug = 'old-bakery'")
        assert cache.ensure()  # heard by now
        assert cache.store_many(read_before, generation)
        assert cache.lookup("old-bakery") is None  # changed after the read: not kept
        assert cache.lookup("other-bakery") == read_before[1]
        cache.end_fill()
        assert not cache.store_many(read_before, generation)  # no fill under way

        generation = cache.begin_fill()
        assert generation is not None
        heads = cache._connection
        assert heads is not None
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (heads.info.backend_pid,))
        time.sleep(head_cache.RECONNECT_S)
        deadline = time.monotonic() + 5
        while cache.generation == generation:  # the loss is noticed, then a new connection
            assert time.monotonic() < deadline
            cache.ensure()
            time.sleep(0.01)
        assert not cache.store_many(read_before, generation)  # read under the old connection
        assert cache.lookup("other-bakery") is None
    finally:
        cache.close()
