"""Revision 0004 (subscriptions, their payments, notices) on SQLite and PostgreSQL: it goes
down to 0003 dropping only its own tables, and up again; the sweep's queries have their
indexes."""

from __future__ import annotations

import datetime as dt

from migration_support import insert_old_customer, read_old_customer
from sqlalchemy import inspect

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.accounts.customers import Customer
from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import Notice, NoticeKind, Subscription, SubscriptionPayment
from webmagic_core.sites import Actor, Site

NEW_TABLES = {"subscriptions", "subscription_payments", "notices"}
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def table_names(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


def test_0004_goes_down_to_0003_keeping_sites_and_accounts_and_up_again(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        database.upgrade("0004")  # later revisions may follow; this test is about 0004
        assert database.current_revision() == "0004"
        assert table_names(database) >= NEW_TABLES
        site = Site.new_preview(slug="kept", business_name="Kept", now=T0, actor=Actor.ADMIN, cause="t")
        customer = Customer.new(email="rosa@example.com", now=T0)
        sub = Subscription.new(site_id=site.id, customer_id=customer.id, amount=Money(9500, "USD"), now=T0)
        insert_old_customer(database, customer)
        with database.unit_of_work() as work:
            work.sites.add(site)
            work.subscriptions.add(sub)
            work.subscriptions.add_payment(SubscriptionPayment("pa_1", sub.id, sub.amount, T0, None, T0))
            work.notices.add(Notice.hosting_ending(NoticeKind.HOSTING_ENDING_7_DAYS, site.id, T0, T0))
            work.commit()

        database.downgrade("0003")
        assert database.current_revision() == "0003"
        assert not NEW_TABLES & table_names(database)
        with database.unit_of_work() as work:
            assert work.sites.get(site.id) == site
        assert read_old_customer(database, customer) == customer

        database.upgrade()
        with database.unit_of_work() as work:
            assert work.customers.get(customer.id) == customer
            assert work.subscriptions.for_site(site.id) == []
            assert work.notices.for_site(site.id) == []
    finally:
        database.dispose()


def test_the_subscription_lookups_have_their_indexes_and_keys(database: Database) -> None:
    inspector = inspect(database.engine)

    def indexes(table: str) -> dict[str, list[str]]:
        return {index["name"]: list(index["column_names"]) for index in inspector.get_indexes(table)}

    assert indexes("subscriptions")["ix_subscriptions_site_id"] == ["site_id"]
    assert indexes("subscriptions")["ix_subscriptions_status_paid_through"] == ["status", "paid_through"]
    assert indexes("subscriptions")["ix_subscriptions_status_last_synced_at"] == ["status", "last_synced_at"]
    assert indexes("subscription_payments")["ix_subscription_payments_subscription_id"] == ["subscription_id"]
    assert indexes("notices")["ix_notices_site_id"] == ["site_id"]
    referred = {
        (fk["constrained_columns"][0], fk["referred_table"])
        for fk in inspector.get_foreign_keys("subscriptions")
    }
    assert referred == {("site_id", "sites"), ("customer_id", "customer_users")}
