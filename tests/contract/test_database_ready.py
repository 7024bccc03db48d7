"""``Database.ready`` (what ``/readyz`` answers): a read *and* a committed write within a
bound, on SQLite and PostgreSQL. Not ready when the database is read-only, locked by a
writer past the bound, or not migrated; ready again once that passes."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import make_url

from webmagic_adapters.sqlalchemy.database import Database


def test_a_migrated_database_is_ready_and_an_empty_one_is_not(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        assert database.ping()
        assert database.ready() is False  # answers reads, but has nowhere to write
        database.upgrade()
        assert database.ready() is True
        assert database.ready() is True  # and again: the connection it used is fine
    finally:
        database.dispose()


def test_sqlite_locked_by_a_writer_past_the_bound_is_not_ready(sqlite_database: Database) -> None:
    path = make_url(sqlite_database.engine.url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert sqlite_database.ready(write_timeout=0.2) is False
        assert time.monotonic() - started < 2  # bounded, not the 5 s busy timeout
        assert sqlite_database.ping() is True  # reads still work: it is the write that fails
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert sqlite_database.ready() is True
    # The pool's connections kept their normal busy timeout.
    with sqlite_database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 5000


def test_an_in_memory_database_keeps_its_one_connection() -> None:
    database = Database("sqlite://")
    try:
        database.upgrade()
        assert database.ready() is True
        assert database.ready() is True  # still the same migrated in-memory database
    finally:
        database.dispose()


@pytest.mark.postgres
def test_read_only_postgresql_is_not_ready(postgres_url: str) -> None:
    Database(postgres_url).upgrade()
    url = make_url(postgres_url)
    options = f"{url.query['options']} -cdefault_transaction_read_only=on"
    read_only = Database(url.update_query_dict({"options": options}).render_as_string(hide_password=False))
    try:
        assert read_only.ping() is True
        assert read_only.ready() is False
    finally:
        read_only.dispose()


@pytest.mark.postgres
def test_postgresql_locked_past_the_bound_is_not_ready(postgres_url: str) -> None:
    database = Database(postgres_url)
    try:
        database.upgrade()
        holder = database.engine.connect()
        holder.exec_driver_sql("SELECT * FROM health_checks FOR UPDATE")
        started = time.monotonic()
        assert database.ready(write_timeout=0.2) is False
        assert time.monotonic() - started < 2
        holder.rollback()
        holder.close()
        assert database.ready() is True
    finally:
        database.dispose()


def test_ready_never_logs_the_url(empty_database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    database = Database(empty_database_url)
    try:
        assert database.ready() is False
    finally:
        database.dispose()
    assert empty_database_url not in caplog.text
    assert "health_checks" in caplog.text
