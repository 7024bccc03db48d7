"""``Precompiled`` SELECTs read what SQLAlchemy reads (types processed the same way, on
SQLite and PostgreSQL), and a driver's error reaches the caller as SQLAlchemy's."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from contract_support import open_database
from sqlalchemy import bindparam, column, select, table
from sqlalchemy.exc import DBAPIError

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.precompiled import Precompiled
from webmagic_core.accounts.customers import Customer

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=dt.UTC)
_c = t.customer_users
BY_ID = select(_c).where(_c.c.id == bindparam("customer_id"))
# A literal bound at construction (the status) beside the caller's parameter, and a limit.
RECENT = (
    select(_c.c.id, _c.c.email, _c.c.created_at)
    .where(_c.c.email != "nobody@example.com")
    .order_by(_c.c.email)
    .limit(5)
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    return open_database(request, request.param, tmp_path)


def add(database: Database, email: str, **fields: object) -> Customer:
    customer = Customer.new(email=email, now=T0, **fields)  # type: ignore[arg-type]
    with database.unit_of_work() as uow:
        uow.customers.add(customer)
        uow.commit()
    return customer


def test_rows_are_what_sqlalchemy_reads(database: Database) -> None:
    ana = add(database, "ana@example.com", full_name="Ana", verified=True)
    add(database, "bo@example.com")  # no name, no phone: NULLs
    dialect = database.engine.dialect
    with database.engine.connect() as c:
        c.begin()
        for statement, params in ((BY_ID, {"customer_id": ana.id}), (RECENT, {})):
            expected = [tuple(row) for row in c.execute(statement, params)]
            got = Precompiled(statement, dialect).all(c, params)
            assert [tuple(row) for row in got] == expected
        row = Precompiled(BY_ID, dialect).first(c, {"customer_id": ana.id})
        assert row is not None
        assert row.id == ana.id
        assert isinstance(row.id, uuid.UUID)
        assert row.created_at == T0
        assert row.created_at.tzinfo is not None
        assert row.full_name == "Ana"
        assert Precompiled(BY_ID, dialect).first(c, {"customer_id": uuid.uuid4()}) is None
        assert Precompiled(BY_ID, dialect).all(c, {"customer_id": uuid.uuid4()}) == []


def test_a_driver_error_is_raised_as_sqlalchemys(database: Database) -> None:
    missing = select(table("no_such_table", column("x")))
    with database.engine.connect() as c:
        c.begin()
        with pytest.raises(DBAPIError) as raised:
            Precompiled(missing, database.engine.dialect).all(c, {})
        assert "no_such_table" in str(raised.value)


def test_an_expanding_parameter_is_refused(database: Database) -> None:
    statement = select(_c.c.id).where(_c.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="expanding"):
        Precompiled(statement, database.engine.dialect)
