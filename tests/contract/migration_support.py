"""Helpers of the migration tests that run at older revisions."""

from __future__ import annotations

from sqlalchemy import select

from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.accounts.customers import Customer

# The columns of customer_users before revision 0010: the repository of today writes and
# reads more, so the tests at older revisions go through these.
OLD_CUSTOMER_COLUMNS = (
    "id",
    "email",
    "password_hash",
    "full_name",
    "phone",
    "email_verified_at",
    "token_version",
    "created_at",
    "updated_at",
)


def insert_old_customer(database: Database, customer: Customer) -> None:
    with database.engine.begin() as connection:
        connection.execute(
            tables.customer_users.insert().values(
                {name: getattr(customer, name) for name in OLD_CUSTOMER_COLUMNS}
            )
        )


def read_old_customer(database: Database, customer: Customer) -> Customer:
    columns = [tables.customer_users.c[name] for name in OLD_CUSTOMER_COLUMNS]
    with database.engine.connect() as connection:
        row = connection.execute(select(*columns).where(tables.customer_users.c.id == customer.id)).one()
    return Customer(**row._asdict())
