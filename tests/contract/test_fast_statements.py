"""The statements ``Lookup``, ``Insertion`` and ``updating`` build run on the driver's
cursor (``FastStatement``) and give what ``connection.execute`` gives: the same rows and
types, the same stored values, the same row counts and the same errors (a clash is a
``Conflict``), inside the unit of work's transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import gc
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from contract_support import open_database
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    CursorResult,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    bindparam,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc

from webmagic_adapters.sqlalchemy import precompiled
from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.precompiled import FastResult, FastStatement
from webmagic_adapters.sqlalchemy.repositories import (
    SQLITE_TRANSACTION_INFO,
    Insertion,
    Lookup,
    SqlAlchemyRepository,
    fast_statement,
    updating,
)
from webmagic_core.errors import Conflict, TransientError

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=dt.UTC)
# An aware datetime in another zone: stored as UTC, read back as UTC.
T1 = dt.datetime(2026, 3, 2, 11, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))

_md = MetaData()
# Every kind of value the repositories store: UUID (text on SQLite), aware datetimes,
# strings (enums are stored by value), integers, booleans, bytes, JSON, NULLs.
probes = Table(
    "fast_probes",
    _md,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False),
    Column("at", t.UTCDateTime(), nullable=True),
    Column("status", String(20), nullable=False),
    Column("size", BigInteger, nullable=True),
    Column("flag", Boolean(), nullable=True),
    Column("data", LargeBinary, nullable=True),
    Column("doc", JSON(), nullable=True),
    Column("note", String(50), nullable=True),
    UniqueConstraint("id"),
)
COLUMNS = tuple(c for c in probes.c if c.name != "seq")
BY_ID = Lookup(select(*COLUMNS).where(probes.c.id == bindparam("id")))
BY_STATUS = Lookup(select(probes).where(probes.c.status == bindparam("status")).order_by(probes.c.seq))
INSERT = Insertion(probes)
UPDATE = updating(probes, probes.c.id, ("at", "status", "flag", "data", "doc", "note"))

# Python-side defaults: SQLAlchemy fills these at execution, the driver's cursor would not.
_defaults = Table(
    "fast_defaults",
    _md,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False, default="plain"),
    Column("touched", Integer, nullable=True, onupdate=7),
)
INSERT_WITH_DEFAULTS = Insertion(_defaults)
UPDATE_WITH_DEFAULTS = updating(_defaults, _defaults.c.id, ("kind",))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    database = open_database(request, request.param, tmp_path)
    _md.create_all(database.engine)
    return database


@pytest.fixture
def connection(database: Database) -> Iterator[Connection]:
    with database.engine.connect() as c:
        yield c


def values(**fields: Any) -> dict[str, Any]:
    row = {
        "id": uuid.uuid4(),
        "at": T1,
        "status": "active",
        "size": 2**40,
        "flag": True,
        "data": b"\x00\xffbody",
        "doc": {"a": [1, "two", None]},
        "note": None,
    }
    return row | fields


def fast(c: Connection, statement: Any, params: Any) -> FastResult:
    """``statement`` run on the driver's cursor (and only there)."""
    registered = fast_statement(statement)
    assert registered is not None
    form = registered.form(c, params)
    assert form is not None
    return form.execute(c, params)


def stored(c: Connection, key: uuid.UUID) -> tuple[Any, ...]:
    """A row as the driver reads it, no type processing: what was really stored."""
    row = c.execute(select(*COLUMNS).where(probes.c.id == key)).first()
    assert row is not None
    columns = "SELECT at, status, size, flag, data, doc, note FROM fast_probes"
    if c.dialect.name == "sqlite":
        raw = c.exec_driver_sql(f"{columns} WHERE id = ?", (key.hex,)).one()
    else:
        raw = c.exec_driver_sql(f"{columns} WHERE id = %(id)s", {"id": key}).one()
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in raw)


def test_lookups_read_what_sqlalchemy_reads(connection: Connection) -> None:
    c = connection
    first, second = values(), values(note="second", flag=False, at=None, size=None, data=None, doc=None)
    c.execute(insert(probes), [first, second])
    for statement in (BY_ID.plain, BY_ID.locked):
        for key in (first["id"], second["id"], uuid.uuid4()):
            expected = c.execute(statement, {"id": key}).first()
            got = fast(c, statement, {"id": key}).first()
            assert (tuple(got) if got is not None else None) == (
                tuple(expected) if expected is not None else None
            )
    row = fast(c, BY_ID.plain, {"id": first["id"]}).first()
    assert row is not None
    assert isinstance(row.id, uuid.UUID)
    assert row.id == first["id"]
    assert row.at == T1
    assert row.at.utcoffset() == dt.timedelta(0)
    assert (row.status, row.size, row.flag, row.data, row.doc, row.note) == (
        "active",
        2**40,
        True,
        b"\x00\xffbody",
        {"a": [1, "two", None]},
        None,
    )
    assert type(row.flag) is bool
    # Several rows: ``first()`` is the first of them, the rest are dropped as SQLAlchemy does.
    expected = c.execute(BY_STATUS.plain, {"status": "active"}).first()
    got = fast(c, BY_STATUS.plain, {"status": "active"}).first()
    assert expected is not None
    assert got is not None
    assert tuple(got) == tuple(expected)
    assert got.seq == expected.seq


def test_inserts_store_what_sqlalchemy_stores(connection: Connection) -> None:
    c = connection
    by_sqlalchemy, by_fast = values(), values()
    by_sqlalchemy_sparse, by_fast_sparse = (
        {"id": uuid.uuid4(), "status": "new"},  # the other columns: NULL (a different compiled form)
        {"id": uuid.uuid4(), "status": "new"},
    )
    # The row count SQLAlchemy reports: 1, or -1 on PostgreSQL, where it adds RETURNING
    # for the autoincrement key and reads the count once the cursor is closed.
    count = c.execute(INSERT.plain, by_sqlalchemy).rowcount
    assert count == (1 if c.dialect.name == "sqlite" else -1)
    assert fast(c, INSERT.plain, by_fast).rowcount == count
    c.execute(INSERT.plain, by_sqlalchemy_sparse)
    assert fast(c, INSERT.plain, by_fast_sparse).rowcount == count
    # Bind processors applied: the stored values are the same, to the byte.
    assert stored(c, by_fast["id"]) == stored(c, by_sqlalchemy["id"])
    assert stored(c, by_fast_sparse["id"]) == stored(c, by_sqlalchemy_sparse["id"])
    got = c.execute(BY_ID.plain, {"id": by_fast["id"]}).first()
    assert got is not None
    assert got.at == T1
    assert got.id == by_fast["id"]
    assert set(fast_statement(INSERT.plain).prepared(c.dialect)) >= {tuple(by_fast), tuple(by_fast_sparse)}  # type: ignore[union-attr]


def test_updates_store_and_count_what_sqlalchemy_does(connection: Connection) -> None:
    c = connection
    one, other = values(), values()
    c.execute(insert(probes), [one, other])
    change = {"at": T0, "status": "closed", "flag": False, "data": b"\x01", "doc": [1], "note": "x"}
    assert c.execute(UPDATE, {"_key": one["id"], **change}).rowcount == 1
    assert fast(c, UPDATE, {"_key": other["id"], **change}).rowcount == 1
    assert stored(c, one["id"]) == stored(c, other["id"])
    assert fast(c, UPDATE, {"_key": uuid.uuid4(), **change}).rowcount == 0
    assert c.execute(UPDATE, {"_key": uuid.uuid4(), **change}).rowcount == 0
    with pytest.raises(sa_exc.ResourceClosedError):
        fast(c, UPDATE, {"_key": one["id"], **change}).first()  # no rows, as SQLAlchemy says


def test_returning_reads_what_sqlalchemy_reads(connection: Connection) -> None:
    c = connection
    statement = INSERT.skipping_clashes  # ON CONFLICT DO NOTHING RETURNING seq
    first = values()
    expected = c.execute(statement, first).first()
    got = fast(c, statement, values()).first()
    assert expected is not None
    assert got is not None
    assert type(got.seq) is type(expected.seq) is int
    assert got.seq == expected.seq + 1
    # A clash: nothing changes, no row comes back.
    assert fast(c, statement, values(id=first["id"])).first() is None
    assert c.execute(statement, values(id=first["id"])).first() is None


def test_a_clash_is_a_conflict_and_the_transaction_goes_on(database: Database) -> None:
    taken = values()
    with database.unit_of_work() as uow:
        repository = SqlAlchemyRepository(uow.connection)
        repository._insert_unique(INSERT, "taken", taken)
        with pytest.raises(Conflict, match="taken"):
            repository._insert_unique(INSERT, "taken", values(id=taken["id"]))
        with pytest.raises(Conflict, match="plainly"):
            repository._write_unique(
                INSERT.plain, "plainly", values(id=taken["id"])
            )  # a savepoint on PostgreSQL
        second = values()
        repository._insert_unique(INSERT, "taken", second)
        # An UPDATE onto a taken key: a Conflict too.
        with pytest.raises(Conflict, match="moved"):
            repository._write_unique(
                update(probes).where(probes.c.id == second["id"]).values(id=taken["id"]), "moved"
            )
        change = {"at": T0, "status": "s", "flag": None, "data": None, "doc": None, "note": "kept"}
        assert repository._write_unique(UPDATE, "no", {"_key": second["id"], **change}) == 1
        uow.commit()
    with database.engine.connect() as c:
        notes = sorted((row.note or "") for row in c.execute(select(probes.c.note)))
        assert notes == ["", "kept"]
    kinds = fast_statement(
        INSERT.skipping_clashes if database.engine.dialect.name == "postgresql" else INSERT.plain
    )
    assert kinds is not None
    assert kinds.prepared(database.engine.dialect)


def test_a_registered_statement_skips_sqlalchemys_execution_an_ad_hoc_one_does_not(
    database: Database,
) -> None:
    seen: list[str] = []
    key = values()
    with database.unit_of_work() as uow:
        repository = SqlAlchemyRepository(uow.connection)
        result = repository._write(INSERT.plain, key)
        assert isinstance(result, FastResult)
        assert isinstance(repository._execute(select(probes.c.id)), CursorResult)
        uow.commit()

    def record(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    # SQLAlchemy's ``before_cursor_execute`` does not fire for a registered statement run
    # on the driver's cursor: watch through SQLite's trace instead ...
    if database.engine.dialect.name == "sqlite":
        traced: list[str] = []
        with database.unit_of_work() as uow:
            driver = uow.connection().connection.driver_connection
            assert driver is not None
            driver.set_trace_callback(traced.append)
            try:
                row = (
                    SqlAlchemyRepository(uow.connection)
                    ._lookup(BY_ID, {"id": key["id"]}, for_update=False)
                    .first()
                )
            finally:
                driver.set_trace_callback(None)
        assert row is not None
        assert row.id == key["id"]
        assert any("FROM fast_probes" in s for s in traced)
    # ... while a listener on it puts every statement back on SQLAlchemy's path, so the
    # listener sees them all (tests inject faults that way).
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        with database.unit_of_work() as uow:
            repository = SqlAlchemyRepository(uow.connection)
            assert not isinstance(repository._lookup(BY_ID, {"id": key["id"]}, for_update=False), FastResult)
            repository._execute(select(probes.c.id))
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert sum("FROM fast_probes" in s for s in seen) == 2
    with database.unit_of_work() as uow:
        assert isinstance(
            SqlAlchemyRepository(uow.connection)._lookup(BY_ID, {"id": key["id"]}, for_update=True),
            FastResult,
        )


def test_it_runs_inside_the_unit_of_works_transaction(database: Database) -> None:
    rolled_back, committed = values(), values()
    with database.unit_of_work() as uow:
        repository = SqlAlchemyRepository(uow.connection)
        repository._write(INSERT.plain, rolled_back)  # the first statement: autobegins
        connection = uow.connection()
        assert connection.in_transaction()
        if database.engine.dialect.name == "sqlite":
            # The engine's BEGIN hook ran (IMMEDIATE: ``_write`` took the write lock first).
            assert connection.info[SQLITE_TRANSACTION_INFO][0] == "IMMEDIATE"
        uow.rollback()
        repository._write(INSERT.plain, committed)
        uow.commit()
    with database.unit_of_work() as uow:
        repository = SqlAlchemyRepository(uow.connection)
        assert repository._lookup(BY_ID, {"id": rolled_back["id"]}, for_update=False).first() is None
        assert repository._lookup(BY_ID, {"id": committed["id"]}, for_update=False).first() is not None
        if database.engine.dialect.name == "sqlite":
            assert uow.connection().info[SQLITE_TRANSACTION_INFO][0] == "DEFERRED"  # a plain read


def test_errors_are_raised_as_sqlalchemy_raises_them(connection: Connection) -> None:
    c = connection
    for params in ({"status": "x"}, values(at=dt.datetime(2026, 1, 1))):  # no id; a naive datetime
        with pytest.raises(sa_exc.StatementError) as by_sqlalchemy:
            c.execute(INSERT.plain, params)
        c.rollback()
        with pytest.raises(sa_exc.StatementError) as by_fast:
            fast(c, INSERT.plain, params)
        c.rollback()
        assert type(by_fast.value) is type(by_sqlalchemy.value)
        assert type(by_fast.value.orig) is type(by_sqlalchemy.value.orig)
    fast(c, INSERT.plain, taken := values())
    with pytest.raises(sa_exc.IntegrityError):
        fast(c, INSERT.plain, values(id=taken["id"]))
    if c.dialect.name == "postgresql":
        # The failed transaction must be rolled back first, as SQLAlchemy's own path says.
        with pytest.raises(sa_exc.InternalError):
            fast(c, BY_ID.plain, {"id": taken["id"]})


def test_the_result_has_only_what_the_repositories_read(connection: Connection) -> None:
    c = connection
    c.execute(insert(probes), values())
    c.execute(insert(probes), values())
    every = c.execute(BY_STATUS.plain, {"status": "active"}).all()
    assert len(every) == 2
    assert [tuple(row) for row in fast(c, BY_STATUS.plain, {"status": "active"}).all()] == [
        tuple(row) for row in every
    ]
    result = fast(c, BY_STATUS.plain, {"status": "active"})
    for name in ("one", "scalar", "scalar_one", "scalars", "fetchall", "mappings", "keys"):
        with pytest.raises(AttributeError):
            getattr(result, name)
    with pytest.raises(TypeError):
        iter(result)  # type: ignore[call-overload]
    assert result.first() is not None
    with pytest.raises(sa_exc.ResourceClosedError):
        result.first()  # consumed, as SQLAlchemy's
    with pytest.raises(sa_exc.ResourceClosedError):
        result.all()


def test_executemany_and_unregistered_statements_stay_on_sqlalchemys_path(connection: Connection) -> None:
    registered = fast_statement(INSERT.plain)
    assert registered is not None
    assert registered.form(connection, [values(), values()]) is None
    assert fast_statement(insert(probes)) is None
    assert fast_statement(select(probes)) is None
    assert fast_statement(text("SELECT 1")) is None
    assert fast_statement(BY_ID.plain.limit(1)) is None  # derived from a registered one


def test_first_use_from_many_threads_compiles_once(
    connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    real = precompiled._Form

    def counting(*args: Any) -> Any:
        built.append(args)
        return real(*args)

    monkeypatch.setattr(precompiled, "_Form", counting)
    statement = FastStatement(select(probes).where(probes.c.id == bindparam("id")))
    start = threading.Barrier(8)
    forms: list[object] = []

    def use() -> None:
        start.wait()
        forms.append(statement.form(connection, {"id": uuid.uuid4()}))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1
    assert len(forms) == 8
    assert all(form is forms[0] for form in forms)
    assert statement.prepared(connection.dialect) == [None]  # a SELECT: one form, whatever the names


def test_a_table_with_python_side_defaults_is_refused(connection: Connection) -> None:
    for statement in (insert(_defaults), update(_defaults).values(kind="x")):
        with pytest.raises(ValueError, match="Python-side default"):
            FastStatement(statement)
    # Built by ``Insertion``/``updating`` all the same, they stay on SQLAlchemy's path,
    # which fills the defaults.
    assert fast_statement(INSERT_WITH_DEFAULTS.plain) is None
    assert fast_statement(INSERT_WITH_DEFAULTS.skipping_clashes) is None
    assert fast_statement(UPDATE_WITH_DEFAULTS) is None
    repository = SqlAlchemyRepository(lambda: connection)
    repository._write(INSERT_WITH_DEFAULTS.plain, {"id": 1})
    assert repository._write(UPDATE_WITH_DEFAULTS, {"_key": 1, "kind": "other"}).rowcount == 1
    assert connection.execute(select(_defaults.c.kind, _defaults.c.touched)).one() == ("other", 7)


def test_every_statement_the_repositories_build_once_is_registered() -> None:
    """None refused (a Python-side default added to a table would put its statements back
    on SQLAlchemy's slower path: this says so)."""
    import importlib

    from sqlalchemy import Update

    found = 0
    for name in (
        "accounts_repositories",
        "customer_admin_repository",
        "domains_repository",
        "edits_repository",
        "outbox_repository",
        "payments_repositories",
        "sites_repository",
        "subscriptions_repositories",
    ):
        module = importlib.import_module(f"webmagic_adapters.sqlalchemy.{name}")
        for value in vars(module).values():
            for item in value.values() if isinstance(value, dict) else (value,):
                if isinstance(item, Lookup):
                    statements: tuple[Any, ...] = (item.plain, item.locked)
                elif isinstance(item, Insertion):
                    statements = (item.plain, item.skipping_clashes)
                elif isinstance(item, Update) and ":_key" in str(item):  # built by ``updating``
                    statements = (item,)
                else:
                    continue
                for statement in statements:
                    found += 1
                    assert fast_statement(statement) is not None, (name, str(statement))
    assert found > 40


def test_the_forms_go_with_their_engine(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{(tmp_path / 'gone.db').as_posix()}")
    _md.create_all(database.engine)
    with database.unit_of_work() as uow:
        assert (
            SqlAlchemyRepository(uow.connection)
            ._lookup(BY_ID, {"id": uuid.uuid4()}, for_update=False)
            .first()
            is None
        )
    registered = fast_statement(BY_ID.plain)
    assert registered is not None
    assert registered.prepared(database.engine.dialect) == [None]
    dialect = weakref.ref(database.engine.dialect)
    database.dispose()
    del database, uow
    gc.collect()
    assert dialect() is None  # a cache outside the dialect would keep every engine's alive


def test_a_busy_or_lost_database_is_a_transient_error(database: Database, tmp_path: Path) -> None:
    with database.engine.connect() as c:
        repository = SqlAlchemyRepository(lambda: c)
        driver = c.connection.driver_connection
        assert driver is not None
        if database.engine.dialect.name == "sqlite":
            path = database.engine.url.database
            assert path is not None
            holder = sqlite3.connect(path, isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
                driver.execute("PRAGMA busy_timeout = 0")
                with pytest.raises(TransientError, match="locked"):
                    repository._execute(INSERT.plain, values())
            finally:
                holder.close()
        else:
            pid = c.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with database.engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")  # type: ignore[arg-type]
            with pytest.raises(TransientError):
                repository._lookup(BY_ID, {"id": uuid.uuid4()}, for_update=False)
            assert c.invalidated  # as SQLAlchemy does with a lost connection
