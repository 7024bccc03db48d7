"""Revision 0003 (payments, site owners) on SQLite and PostgreSQL: the sites table gains
its owner columns without losing a row (SQLite rebuilds it), goes down to 0002 keeping
sites, versions, events and accounts, and up again."""

from __future__ import annotations

import datetime as dt

from migration_support import insert_old_customer, read_old_customer
from sqlalchemy import func, inspect, select

from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.accounts.customers import Customer
from webmagic_core.sites import Actor, Site

NEW_TABLES = {"purchases", "webhook_events", "anomalies", "sandbox_checkouts"}
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def table_names(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


def site_columns(database: Database) -> set[str]:
    return {column["name"] for column in inspect(database.engine).get_columns("sites")}


def count(database: Database, table: str) -> int:
    with database.engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(tables.metadata.tables[table])).scalar_one()
        )


def test_0003_adds_the_owner_columns_keeping_every_site_and_goes_down_and_up_again(
    empty_database_url: str,
) -> None:
    database = Database(empty_database_url)
    try:
        database.upgrade("0002")
        site = Site.new_preview(slug="kept", business_name="Kept", now=T0, actor=Actor.ADMIN, cause="t")
        customer = Customer.new(email="rosa@example.com", now=T0)
        with database.engine.begin() as connection:
            # 0002's columns only: the repository of today would write the owner too.
            connection.execute(
                tables.sites.insert().values(
                    id=site.id,
                    slug=site.slug,
                    business_name=site.business_name,
                    status=site.status.value,
                    current_version=1,
                    created_at=T0,
                    updated_at=T0,
                )
            )
            connection.execute(
                tables.site_events.insert().values(
                    id=site.pending_events[0].id,
                    site_id=site.id,
                    to_status="preview",
                    cause="t",
                    actor="admin",
                    occurred_at=T0,
                )
            )
        insert_old_customer(database, customer)

        database.upgrade("0003")
        assert database.current_revision() == "0003"
        assert table_names(database) >= NEW_TABLES
        assert {"owner_id", "purchased_at"} <= site_columns(database)
        with database.unit_of_work() as work:
            loaded = work.sites.get(site.id)
            assert loaded is not None
            assert (loaded.slug, loaded.owner_id, loaded.purchased_at) == ("kept", None, None)
            assert len(work.sites.events(site.id)) == 1
            loaded.sell(customer.id, cause="paid", actor=Actor.WEBHOOK, at=T0 + dt.timedelta(hours=1))
            work.sites.save(loaded)
            work.commit()

        database.downgrade("0002")
        assert database.current_revision() == "0002"
        assert not NEW_TABLES & table_names(database)
        assert not {"owner_id", "purchased_at"} & site_columns(database)
        assert (count(database, "sites"), count(database, "site_events")) == (1, 2)
        assert read_old_customer(database, customer) == customer

        database.upgrade()
        with database.unit_of_work() as work:
            again = work.sites.get(site.id)
            assert again is not None
            assert again.owner_id is None
            assert work.purchases.list() == []
            assert work.customers.get(customer.id) == customer
    finally:
        database.dispose()


def test_the_owner_is_a_foreign_key_to_the_accounts_and_the_lookups_have_indexes(database: Database) -> None:
    inspector = inspect(database.engine)
    [owner_key] = [
        fk for fk in inspector.get_foreign_keys("sites") if fk["constrained_columns"] == ["owner_id"]
    ]
    assert (owner_key["referred_table"], owner_key["referred_columns"]) == ("customer_users", ["id"])

    def indexes(table: str) -> dict[str, list[str]]:
        return {index["name"]: list(index["column_names"]) for index in inspector.get_indexes(table)}

    assert indexes("sites")["ix_sites_owner_id"] == ["owner_id"]
    assert indexes("purchases")["ix_purchases_status_expires_at"] == ["status", "expires_at"]
    assert indexes("purchases")["ix_purchases_site_id"] == ["site_id"]
    assert indexes("webhook_events")["ix_webhook_events_received_at"] == ["received_at"]
    assert indexes("webhook_events")["ix_webhook_events_site_id"] == ["site_id"]
