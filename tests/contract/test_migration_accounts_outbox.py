"""Revision 0002 (accounts, refresh sessions, outbox) on SQLite and PostgreSQL: it goes
down to 0001 without touching the sites, and up again."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect, select

from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.sites import Actor, Site

NEW_TABLES = {"customer_users", "refresh_sessions", "outbox_messages"}


def table_names(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


def test_downgrade_to_0001_drops_only_the_new_tables_and_upgrade_restores_them(
    empty_database_url: str,
) -> None:
    database = Database(empty_database_url)
    try:
        database.upgrade()
        assert table_names(database) >= NEW_TABLES
        site = Site.new_preview(
            slug="kept",
            business_name="Kept",
            now=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            actor=Actor.ADMIN,
            cause="t",
        )
        with database.unit_of_work() as work:
            work.sites.add(site)
            work.commit()

        database.downgrade("0001")
        assert database.current_revision() == "0001"
        assert not NEW_TABLES & table_names(database)
        # Read with 0001's columns: today's repository also reads what later revisions add.
        with database.engine.connect() as connection:
            query = select(tables.sites.c.slug).where(tables.sites.c.id == site.id)
            assert connection.execute(query).scalar_one() == "kept"

        database.upgrade()
        assert table_names(database) >= NEW_TABLES
        with database.unit_of_work() as work:
            assert work.sites.get(site.id) == site
            assert work.outbox.count_by_status() == {}
            assert work.customers.get_by_email("rosa@example.com") is None
    finally:
        database.dispose()


def test_the_claim_query_has_its_index(database: Database) -> None:
    indexes = {
        index["name"]: index["column_names"]
        for index in inspect(database.engine).get_indexes("outbox_messages")
    }
    assert indexes["ix_outbox_messages_status_next_attempt_at"] == ["status", "next_attempt_at"]
    assert indexes["ix_outbox_messages_site_id"] == ["site_id"]
