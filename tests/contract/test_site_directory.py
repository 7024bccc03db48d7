"""The SiteDirectory port (hosting's per-request read) on SQLite and PostgreSQL.

Its answers must be the unit of work's (and so the fake's) at every step, and must show
what any writer committed (another ``Database`` in this process, another process) on the
very next read: hosting relies on it to serve a new version or status at once.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from webmagic_adapters.preview_banner import HtmlPreviewBanner
from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_adapters.sqlalchemy import site_directory
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.site_directory import SqlSiteDirectory
from webmagic_core.errors import TransientError
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.pages import PageVariant
from webmagic_core.ports import SiteHead, UnitOfWorkFactory
from webmagic_core.services.sites import SiteService
from webmagic_core.site_files import digest_of
from webmagic_core.sites import Actor, SiteContent
from webmagic_core.testing import FakeClock, FakeUnitOfWorkFactory

SLUGS = ("rosas-bakery", "north-star-plumbing", "cafe-100")
# Never a site: differs in case or spacing, or would match as a LIKE pattern.
NOT_SITES = ("unknown-site", "Rosas-Bakery", "rosas-bakery ", "rosas%", "", "x' OR '1'='1")

Observation = tuple[str, bool, str, SiteStatus, int, str | None] | tuple[str, None]
Lookup = Callable[[str], SiteHead | None]


def url_of(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def directory(database: Database) -> Iterator[SqlSiteDirectory]:
    site_directory = SqlSiteDirectory(database.engine)
    yield site_directory
    site_directory.close()


def uow_lookup(uow: UnitOfWorkFactory) -> Lookup:
    def lookup(slug: str) -> SiteHead | None:
        with uow() as work:
            return work.sites.head_by_slug(slug)

    return lookup


def apply(uow: UnitOfWorkFactory, slug: str, *triggers: Trigger) -> None:
    with uow() as work:
        site = work.sites.get_by_slug(slug, for_update=True)
        assert site is not None
        for trigger in triggers:
            site.apply(trigger, cause=f"test: {trigger.value}", actor=Actor.SYSTEM, at=FakeClock().now())
        work.sites.save(site)
        work.commit()


def rename(uow: UnitOfWorkFactory, slug: str, name: str) -> None:
    with uow() as work:
        site = work.sites.get_by_slug(slug, for_update=True)
        assert site is not None
        site.business_name = name
        work.sites.save(site)
        work.commit()


def run_scenario(uow: UnitOfWorkFactory, lookups: list[Lookup]) -> list[list[Observation]]:
    """Create, publish, move, rename and archive sites; after each step, what every lookup
    answers for every slug (ids compared with the created site's, since they are random)."""
    service = SiteService(uow=uow, clock=FakeClock())
    ids = {}
    steps: list[list[Observation]] = []

    def observe() -> None:
        for lookup in lookups:
            seen: list[Observation] = []
            for slug in (*SLUGS, *NOT_SITES):
                head = lookup(slug)
                if head is None:
                    seen.append((slug, None))
                else:
                    seen.append(
                        (
                            head.slug,
                            head.id == ids[slug],
                            head.business_name,
                            head.status,
                            head.current_version,
                            head.page_digest,
                        )
                    )
            steps.append(seen)

    observe()
    ids["rosas-bakery"] = service.create_preview(
        "rosas-bakery", "Rosa's Bakery", SiteContent(html="<h1>1</h1>")
    ).id
    observe()
    for slug in SLUGS[1:]:
        ids[slug] = service.create_preview(slug, f"Business {slug}", SiteContent(html="<h1>1</h1>")).id
    observe()
    service.publish("rosas-bakery", SiteContent(html="<h1>2</h1>"))
    service.publish("rosas-bakery", SiteContent(html="<h1>3</h1>"))
    observe()
    apply(uow, "north-star-plumbing", Trigger.PURCHASE_PAID)
    observe()
    apply(uow, "north-star-plumbing", Trigger.SUBSCRIPTION_STARTED, Trigger.PAUSED)
    observe()
    rename(uow, "rosas-bakery", "Rosa\u2019s Bäckerei & Café")
    observe()
    service.archive("cafe-100")
    observe()
    return steps


def test_the_directory_answers_what_the_unit_of_work_and_the_fake_answer(
    database: Database, directory: SqlSiteDirectory
) -> None:
    real = run_scenario(database.unit_of_work, [directory.head_by_slug, uow_lookup(database.unit_of_work)])
    fake = FakeUnitOfWorkFactory()
    expected = run_scenario(fake, [uow_lookup(fake)])

    through_directory, through_uow = real[0::2], real[1::2]
    assert through_directory == through_uow
    assert through_directory == expected
    # The scenario really moved things: the last step shows every kind of answer.
    assert [step[:5] for step in expected[-1][:3]] == [
        ("rosas-bakery", True, "Rosa\u2019s Bäckerei & Café", SiteStatus.PREVIEW, 3),
        ("north-star-plumbing", True, "Business north-star-plumbing", SiteStatus.SUSPENDED, 1),
        ("cafe-100", True, "Business cafe-100", SiteStatus.ARCHIVED, 1),
    ]
    # Owned, the plumber served its clean page (the service had no banner to render).
    owned = expected[4][1]
    assert owned[3] is SiteStatus.OWNED
    assert owned[5] == digest_of(b"<h1>1</h1>")


def test_a_commit_through_another_database_instance_shows_on_the_next_read(
    database: Database, directory: SqlSiteDirectory
) -> None:
    writer = Database(url_of(database))
    try:
        service = SiteService(uow=writer.unit_of_work, clock=FakeClock())
        assert directory.head_by_slug("rosas-bakery") is None  # opens and keeps the connection
        site = service.create_preview("rosas-bakery", "Rosa's Bakery", SiteContent(html="<h1>1</h1>"))
        head = directory.head_by_slug("rosas-bakery")
        assert head is not None
        assert (head.id, head.current_version, head.status) == (site.id, 1, SiteStatus.PREVIEW)

        for number in (2, 3):
            service.publish("rosas-bakery", SiteContent(html=f"<h1>{number}</h1>"))
            head = directory.head_by_slug("rosas-bakery")
            assert head is not None
            assert head.current_version == number

        apply(writer.unit_of_work, "rosas-bakery", Trigger.PURCHASE_PAID)
        head = directory.head_by_slug("rosas-bakery")
        assert head is not None
        assert head.status is SiteStatus.OWNED
    finally:
        writer.dispose()


def test_uncommitted_writes_stay_invisible_and_do_not_block_reads(
    database: Database, directory: SqlSiteDirectory
) -> None:
    service = SiteService(uow=database.unit_of_work, clock=FakeClock())
    service.create_preview("rosas-bakery", "Rosa's Bakery", SiteContent(html="<h1>1</h1>"))
    writer = Database(url_of(database))
    try:
        with writer.unit_of_work() as work:
            site = work.sites.get_by_slug("rosas-bakery", for_update=True)  # holds the write lock
            assert site is not None
            site.business_name = "Renamed"
            work.sites.save(site)
            head = directory.head_by_slug("rosas-bakery")
            assert head is not None
            assert head.business_name == "Rosa's Bakery"
            work.commit()
        head = directory.head_by_slug("rosas-bakery")
        assert head is not None
        assert head.business_name == "Renamed"
    finally:
        writer.dispose()


BANNER_WRITER_SCRIPT = """
import sys
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.clock import SystemClock
from webmagic_core.lifecycle import Trigger
from webmagic_core.sites import Actor

database = Database(sys.argv[1])
with database.unit_of_work() as work:
    site = work.sites.get_by_slug("rosas-bakery", for_update=True)
    site.apply(Trigger(sys.argv[2]), cause="test", actor=Actor.SYSTEM, at=SystemClock().now())
    work.sites.save(site)
    work.commit()
database.dispose()
"""


def test_the_head_names_the_stored_page_its_status_serves_also_after_another_process_moves_it(
    database: Database, directory: SqlSiteDirectory
) -> None:
    rewriter = ParserSiteRewriter()
    banner = HtmlPreviewBanner(rewriter, price="$495.00", purchase_base_url="https://shop.example.test")
    service = SiteService(uow=database.unit_of_work, clock=FakeClock(), rewriter=rewriter, banner=banner)
    site = service.create_preview("rosas-bakery", "Rosa's Bakery", SiteContent(html="<h1>1</h1>"))
    with database.unit_of_work() as work:
        stored = {page.variant: page for page in work.sites.rendered_pages(site.id, 1)}
    assert set(stored) == {PageVariant.BANNER, PageVariant.CLEAN}
    assert stored[PageVariant.BANNER].key == banner.key
    assert stored[PageVariant.CLEAN].key == ""

    def served() -> tuple[str | None, str, bytes | None]:
        head = directory.head_by_slug("rosas-bakery")
        assert head is not None
        body = directory.page_body(head.page_digest) if head.page_digest else None
        if body is not None:  # the digest is the bytes' own: it is their strong ETag
            assert digest_of(body) == head.page_digest
        return head.page_digest, head.page_key, body

    digest, key, body = served()
    assert (digest, key) == (stored[PageVariant.BANNER].digest, banner.key)
    assert body is not None
    assert body.count(b"data-webmagic-banner") == 1
    assert b"Rosa&#x27;s Bakery" in body or b"Rosa's Bakery" in body

    steps = [
        (Trigger.PURCHASE_PAID, stored[PageVariant.CLEAN].digest),
        (Trigger.SUBSCRIPTION_STARTED, stored[PageVariant.CLEAN].digest),
        (Trigger.PAUSED, None),  # suspended: no page
        (Trigger.UNPAUSED, stored[PageVariant.CLEAN].digest),  # reactivated: the clean one again
    ]
    for trigger, expected in steps:
        subprocess.run(
            [sys.executable, "-c", BANNER_WRITER_SCRIPT, url_of(database), trigger.value],
            check=True,
            timeout=60,
        )
        digest, key, body = served()
        assert (trigger, digest, key) == (trigger, expected, "")
        if expected is not None:
            assert body is not None
            assert b"data-webmagic-banner" not in body
    assert directory.page_body("0" * 64) is None


WRITER_SCRIPT = """
import sys
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.clock import SystemClock
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import SiteContent

database = Database(sys.argv[1])
service = SiteService(uow=database.unit_of_work, clock=SystemClock())
if sys.argv[2] == "publish":
    service.publish("rosas-bakery", SiteContent(html="<h1>from another process</h1>"))
else:
    service.archive("rosas-bakery")
database.dispose()
"""


def write_from_another_process(database: Database, action: str) -> None:
    subprocess.run([sys.executable, "-c", WRITER_SCRIPT, url_of(database), action], check=True, timeout=60)


def test_a_commit_by_another_process_shows_on_the_next_read(
    database: Database, directory: SqlSiteDirectory
) -> None:
    service = SiteService(uow=database.unit_of_work, clock=FakeClock())
    service.create_preview("rosas-bakery", "Rosa's Bakery", SiteContent(html="<h1>1</h1>"))
    for _ in range(6):  # past psycopg's prepare threshold too, whatever it is set to
        head = directory.head_by_slug("rosas-bakery")
        assert head is not None
        assert head.current_version == 1

    write_from_another_process(database, "publish")
    head = directory.head_by_slug("rosas-bakery")
    assert head is not None
    assert head.current_version == 2

    write_from_another_process(database, "archive")
    head = directory.head_by_slug("rosas-bakery")
    assert head is not None
    assert head.status is SiteStatus.ARCHIVED


@pytest.mark.parametrize("max_connections", [1, 2])
def test_concurrent_readers_share_a_bounded_set_of_connections(
    database: Database, max_connections: int
) -> None:
    service = SiteService(uow=database.unit_of_work, clock=FakeClock())
    for slug in SLUGS:
        service.create_preview(slug, f"Business {slug}", SiteContent(html="<h1>1</h1>"))
    directory = SqlSiteDirectory(database.engine, max_connections=max_connections)
    errors: list[BaseException] = []
    most_open = 0
    start = threading.Barrier(6, timeout=30)

    def reader(slug: str) -> None:
        nonlocal most_open
        try:
            start.wait()
            for _ in range(50):
                head = directory.head_by_slug(slug)
                assert head is not None
                assert head.slug == slug
                assert directory.head_by_slug("unknown-site") is None
                most_open = max(most_open, directory.open_connections)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    try:
        threads = [threading.Thread(target=reader, args=(SLUGS[n % 3],)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert 1 <= most_open <= max_connections
        assert 1 <= directory.open_connections <= max_connections

        directory.close()
        assert directory.open_connections == 0
        head = directory.head_by_slug(SLUGS[1])  # opens a new one
        assert head is not None
        assert directory.open_connections == 1
    finally:
        directory.close()


def test_answers_stay_right_past_the_bound_of_remembered_heads(
    database: Database, directory: SqlSiteDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(site_directory, "MAX_CACHED_HEADS", 2)
    service = SiteService(uow=database.unit_of_work, clock=FakeClock())
    for slug in SLUGS:
        service.create_preview(slug, f"Business {slug}", SiteContent(html="<h1>1</h1>"))
    for _ in range(3):
        for slug in SLUGS:
            head = directory.head_by_slug(slug)
            assert head is not None
            assert (head.slug, head.current_version) == (slug, 1)
    service.publish(SLUGS[2], SiteContent(html="<h1>2</h1>"))
    assert [head.current_version for head in map(directory.head_by_slug, SLUGS) if head] == [1, 1, 2]


@pytest.mark.postgres
def test_a_connection_killed_by_the_server_is_replaced_transparently(postgres_url: str) -> None:
    database = Database(postgres_url)
    directory = SqlSiteDirectory(database.engine)
    try:
        database.upgrade()
        SiteService(uow=database.unit_of_work, clock=FakeClock()).create_preview(
            "rosas-bakery", "Rosa's Bakery", SiteContent(html="<h1>1</h1>")
        )
        assert directory.head_by_slug("rosas-bakery") is not None
        [reader] = directory._idle  # the connection it reads on (internal, on purpose)
        connection = reader.connection
        with database.engine.connect() as admin:
            killed = admin.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": connection.info.backend_pid}
            ).scalar_one()
            admin.commit()
        assert killed is True
        head = directory.head_by_slug("rosas-bakery")
        assert head is not None
        assert head.business_name == "Rosa's Bakery"
    finally:
        directory.close()
        database.dispose()


def test_an_unreachable_server_is_a_transient_error() -> None:
    database = Database("postgresql://postgres@127.0.0.1:1/test")
    directory = SqlSiteDirectory(database.engine)
    try:
        with pytest.raises(TransientError, match="unavailable or busy"):
            directory.head_by_slug("rosas-bakery")
    finally:
        directory.close()
        database.dispose()


def test_in_memory_sqlite_reads_through_the_shared_connection() -> None:
    database = Database("sqlite://")
    directory = SqlSiteDirectory(database.engine)
    try:
        database.upgrade()
        site = SiteService(uow=database.unit_of_work, clock=FakeClock()).create_preview(
            "rosas-bakery", "Rosa's Bakery", SiteContent(html="<h1>1</h1>")
        )
        head = directory.head_by_slug("rosas-bakery")
        assert head is not None
        assert head.id == site.id
        assert directory.head_by_slug("unknown-site") is None
        assert directory.open_connections == 0
    finally:
        directory.close()
        database.dispose()


def test_the_sqlite_connections_are_read_only(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{(tmp_path / 'webmagic.db').as_posix()}")
    directory = SqlSiteDirectory(database.engine)
    try:
        database.upgrade()
        assert directory.head_by_slug("rosas-bakery") is None
        [reader] = directory._idle  # the connection it reads on (internal, on purpose)
        connection = reader.connection
        with pytest.raises(Exception, match="readonly"):
            connection.execute("DELETE FROM sites")
    finally:
        directory.close()
        database.dispose()
