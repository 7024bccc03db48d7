"""What only the real databases have: URLs, migrations, pragmas, isolation, driver faults."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect

from webmagic_adapters.sqlalchemy import database as database_module
from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import MIGRATIONS_DIR, Database, DatabaseUrlError
from webmagic_core.errors import TransientError
from webmagic_core.sites import Actor, Site, SiteContent
from webmagic_core.testing.sites import new_version

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
TABLES = {"sites", "site_versions", "site_events"}


def new_site(slug: str, at: dt.datetime = T0) -> Site:
    return Site.new_preview(slug=slug, business_name=slug.title(), now=at, actor=Actor.ADMIN, cause="created")


def head_revision() -> str | None:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def table_names(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


# URLs and construction


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://web:s3cret@db.example:5432/webmagic",
            "postgresql+psycopg://web:***@db.example:5432/webmagic",
        ),
        ("postgresql://web:s3cret@db.example/webmagic", "postgresql+psycopg://web:***@db.example/webmagic"),
        ("postgresql+psycopg://web@db.example/webmagic", "postgresql+psycopg://web@db.example/webmagic"),
    ],
)
def test_postgres_urls_use_psycopg_3_and_hide_the_password(url: str, expected: str) -> None:
    database = Database(url)
    try:
        assert database.url_for_display == expected
        assert database.engine.dialect.driver == "psycopg"
        assert "s3cret" not in repr(database)
    finally:
        database.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root:hunter2@localhost/db", "unsupported database 'mysql'"),
        ("not a url", "not a URL"),
        ("postgresql+asyncpg://u:hunter2@h/db", "driver 'asyncpg' is not supported"),
        ("sqlite+aiosqlite:///x.db", "driver 'aiosqlite' is not supported"),
    ],
)
def test_unusable_urls_are_refused_without_repeating_secrets(url: str, message: str) -> None:
    with pytest.raises(DatabaseUrlError, match=message) as caught:
        Database(url)
    assert "hunter2" not in str(caught.value)


def test_constructing_connects_to_nothing(tmp_path: Path) -> None:
    unreachable = Database("postgresql://postgres@127.0.0.1:1/nowhere")
    sqlite_file = tmp_path / "nested" / "folder" / "webmagic.db"
    local = Database(f"sqlite:///{sqlite_file.as_posix()}")
    try:
        assert sqlite_file.parent.is_dir()  # made ready for the file...
        assert not sqlite_file.exists()  # ...which only appears on first use
        assert unreachable.ping() is False  # nothing to reach, yet constructing it worked
    finally:
        unreachable.dispose()
        local.dispose()


def test_an_unreachable_server_fails_ping_and_units_of_work_transiently() -> None:
    database = Database("postgresql://postgres@127.0.0.1:1/nowhere")
    try:
        assert database.ping() is False
        with pytest.raises(TransientError, match="database is unavailable"), database.unit_of_work():
            pass
    finally:
        database.dispose()


def test_in_memory_sqlite_keeps_one_database_across_units_of_work() -> None:
    database = Database("sqlite://")
    try:
        database.upgrade()
        site = new_site("memory")
        with database.unit_of_work() as work:
            work.sites.add(site)
            work.commit()
        with database.unit_of_work() as work:
            assert work.sites.get(site.id) == site
    finally:
        database.dispose()


def test_ping(database: Database) -> None:
    assert database.ping() is True


# Migrations


def test_upgrade_creates_the_tables_and_is_idempotent(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        assert database.current_revision() is None
        database.upgrade()
        assert table_names(database) >= TABLES
        assert database.current_revision() == head_revision()
        database.upgrade()
        assert database.current_revision() == head_revision()
        assert database.ping()
    finally:
        database.dispose()


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        database.upgrade()
        database.downgrade("base")
        assert not TABLES & table_names(database)
        assert database.current_revision() is None
        database.upgrade()
        assert table_names(database) >= TABLES
    finally:
        database.dispose()


def test_concurrent_upgrades_queue_and_both_succeed(empty_database_url: str) -> None:
    databases = [Database(empty_database_url) for _ in range(3)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(databases))

    def run(database: Database) -> None:
        try:
            barrier.wait()
            database.upgrade()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert errors == []
        assert databases[0].current_revision() == head_revision()
    finally:
        for database in databases:
            database.dispose()


def test_migrations_build_exactly_the_tables_the_code_declares(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, tables.metadata)
    assert differences == []


def test_upgrade_runs_from_any_working_directory(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    database = Database(empty_database_url)
    try:
        database.upgrade()
        assert database.current_revision() == head_revision()
    finally:
        database.dispose()


# Connection settings and transactions


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{(tmp_path / 'webmagic.db').as_posix()}")
    try:
        with database.engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
        assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}
    finally:
        database.dispose()


def test_foreign_keys_are_enforced(database: Database) -> None:
    orphan = new_version(new_site("nobody").id, 1, SiteContent("<p>orphan</p>"), created_at=T0)
    with database.unit_of_work() as work, pytest.raises(sa_exc.IntegrityError):
        work.sites.add_version(*orphan)


def test_uncommitted_changes_are_invisible_to_other_units_of_work(database: Database) -> None:
    with database.unit_of_work() as writer:
        writer.sites.add(new_site("pending"))
        with database.unit_of_work() as reader:
            assert reader.sites.get_by_slug("pending") is None
        writer.commit()
    with database.unit_of_work() as reader:
        assert reader.sites.get_by_slug("pending") is not None


def test_other_time_zones_are_stored_as_the_same_instant_in_utc(database: Database) -> None:
    plus_five = dt.timezone(dt.timedelta(hours=5, minutes=30))
    local = dt.datetime(2026, 3, 1, 15, 0, 0, 250, tzinfo=plus_five)
    site = new_site("zoned", at=local)
    with database.unit_of_work() as work:
        work.sites.add(site)
        work.commit()
    with database.unit_of_work() as work:
        loaded = work.sites.get(site.id)
        (event,) = work.sites.events(site.id)
    assert loaded is not None
    for value in (loaded.created_at, event.occurred_at):
        assert value == local
        assert value.tzinfo is dt.UTC
        assert value == dt.datetime(2026, 3, 1, 9, 30, 0, 250, tzinfo=dt.UTC)


def test_naive_datetimes_are_refused(database: Database) -> None:
    site = new_site("naive", at=dt.datetime(2026, 3, 1, 9, 30))
    with database.unit_of_work() as work, pytest.raises(sa_exc.StatementError, match="naive datetime"):
        work.sites.add(site)


def test_sqlite_lock_timeouts_surface_as_transient_errors_and_readers_are_not_blocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "SQLITE_BUSY_TIMEOUT_MS", 50)
    database = Database(f"sqlite:///{(tmp_path / 'webmagic.db').as_posix()}")
    try:
        database.upgrade()
        with database.unit_of_work() as work:
            work.sites.add(new_site("alpha"))
            work.commit()
        with database.unit_of_work() as writer:
            assert writer.sites.get_by_slug("alpha", for_update=True) is not None
            with database.unit_of_work() as reader:  # WAL: reads go on while a writer holds the lock
                assert reader.sites.head_by_slug("alpha") is not None
            with pytest.raises(TransientError, match="locked"), database.unit_of_work() as other:
                other.sites.get_by_slug("alpha", for_update=True)
    finally:
        database.dispose()


@pytest.mark.postgres
def test_a_lost_postgresql_connection_is_a_transient_error(postgres_url: str) -> None:
    database = Database(postgres_url)
    try:
        database.upgrade()
        with database.unit_of_work() as work:
            work.sites.add(new_site("alpha"))
            work.commit()
        with database.engine.connect() as admin, database.unit_of_work() as work:
            backend_pid = work.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend_pid)})")
            admin.commit()
            with pytest.raises(TransientError, match="database is unavailable"):
                work.sites.head_by_slug("alpha")
        assert database.ping() is True  # the pool recovers
        with database.unit_of_work() as work:
            assert work.sites.head_by_slug("alpha") is not None
    finally:
        database.dispose()
