"""Revision 0010 (deactivation, login activity, link serials, account history) on SQLite
and PostgreSQL: accounts made before it come through with safe defaults (active, no
failures, serial 0 so their outstanding links keep working); it goes down to 0008 keeping
the accounts and their sessions, and up again. Nothing here assumes 0010 is the head."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import inspect, text

from webmagic_adapters.sqlalchemy.customer_admin_repository import customer_admin_units_of_work
from webmagic_adapters.sqlalchemy.database import Database

T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
NEW_COLUMNS = {
    "deactivated_at",
    "last_login_at",
    "last_login_address",
    "failed_logins",
    "last_failed_login_at",
    "password_link_serial",
    "verify_link_serial",
}


def columns(database: Database) -> set[str]:
    return {c["name"] for c in inspect(database.engine).get_columns("customer_users")}


def test_0010_fills_defaults_for_old_accounts_and_goes_down_keeping_them(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    customer_id, session_id = uuid.uuid4(), uuid.uuid4()
    try:
        database.upgrade("0008")
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO customer_users (id, email, token_version, created_at, updated_at)"
                    " VALUES (:id, 'old@example.com', 1, :at, :at)"
                ),
                {
                    "id": customer_id.hex if database.engine.dialect.name == "sqlite" else customer_id,
                    "at": T0,
                },
            )
            connection.execute(
                text(
                    "INSERT INTO refresh_sessions"
                    " (id, family_id, customer_id, token_hash, created_at, expires_at)"
                    " VALUES (:id, :id, :customer, :hash, :at, :at)"
                ),
                {
                    "id": session_id.hex if database.engine.dialect.name == "sqlite" else session_id,
                    "customer": customer_id.hex if database.engine.dialect.name == "sqlite" else customer_id,
                    "hash": "a" * 64,
                    "at": T0,
                },
            )
        database.upgrade("0010")
        assert columns(database) >= NEW_COLUMNS
        uow = customer_admin_units_of_work(database)
        with uow() as work:
            old = work.customers.get(customer_id)
            assert old is not None
            assert old.active
            assert (old.failed_logins, old.password_link_serial, old.verify_link_serial) == (0, 0, 0)
            assert work.customer_admin.events(customer_id) == []

        database.downgrade("0008")
        assert not NEW_COLUMNS & columns(database)
        assert "customer_events" not in inspect(database.engine).get_table_names()
        with database.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM customer_users")).scalar_one() == 1
            # Rebuilding customer_users on SQLite would have cascaded to its sessions.
            assert connection.execute(text("SELECT count(*) FROM refresh_sessions")).scalar_one() == 1

        database.upgrade()
        with uow() as work:
            assert work.customers.get(customer_id) is not None
    finally:
        database.dispose()
