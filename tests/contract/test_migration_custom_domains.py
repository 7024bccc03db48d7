"""Revision 0008 (custom domains and their history) on SQLite and PostgreSQL: it goes down
to 0004 dropping only its own tables, and up again; its unique constraints are in place.
Other revisions may come after it: nothing here assumes 0008 is the head."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.domains_repository import domain_units_of_work
from webmagic_core.domains.model import CustomDomain
from webmagic_core.sites import Actor, Site

NEW_TABLES = {"custom_domains", "domain_events"}
T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def table_names(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


def test_0008_goes_down_to_0004_keeping_the_sites_and_up_again(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    uow = domain_units_of_work(database)
    try:
        database.upgrade("0008")
        assert database.current_revision() == "0008"
        assert table_names(database) >= NEW_TABLES
        site = Site.new_preview(slug="kept", business_name="Kept", now=T0, actor=Actor.ADMIN, cause="t")
        with uow() as work:
            work.sites.add(site)
            work.domains.add(CustomDomain.new(site_id=site.id, domain="kept.example", token="t" * 43, now=T0))
            work.commit()

        database.downgrade("0004")
        assert not NEW_TABLES & table_names(database)
        with database.unit_of_work() as work:
            assert work.sites.get(site.id) == site

        database.upgrade()
        with uow() as work:
            assert work.domains.for_site(site.id) is None
            assert work.domains.events(site_id=site.id) == []
    finally:
        database.dispose()


def test_one_name_per_site_and_one_site_per_name(database: Database) -> None:
    inspector = inspect(database.engine)
    uniques = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("custom_domains")}
    assert {("domain",), ("site_id",), ("token",)} <= uniques
    indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("domain_events")}
    assert {("site_id",), ("domain",)} <= indexes
