"""Repositories on SQLAlchemy Core: rows in, attrs entities out.

``SqlAlchemyRepository`` holds what every repository shares: running statements on the
unit of work's connection, inserts that report clashes as ``Conflict``, and taking the
write lock before the first write (see ``begin_for_write`` and ``WriteGate``). The
statements a webhook or a page view runs are built once (``Lookup``, ``Insertion``,
``updating``) and given their values at execution; those run straight on the driver's
cursor (``precompiled.FastStatement``: 12-21% less CPU per webhook measured), in the unit
of work's transaction, with results that offer ``first()`` and ``rowcount`` only. Other
statements go through ``connection.execute``. The repositories themselves live in their
own modules (``sites_repository``, ``accounts_repositories``, ...).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    CursorResult,
    Executable,
    Row,
    Select,
    Table,
    Update,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql

from webmagic_adapters.sqlalchemy.errors import is_unique_violation, translating_errors
from webmagic_adapters.sqlalchemy.precompiled import FastStatement
from webmagic_core.errors import Conflict, TransientError

# Option read by the SQLite "begin" hook in database.py: which BEGIN to emit.
SQLITE_BEGIN_OPTION = "webmagic_sqlite_begin"
# Set by that hook in ``Connection.info`` at each BEGIN: (mode, total_changes of the
# sqlite3 connection then), so ``begin_for_write`` can tell a read-only transaction.
SQLITE_TRANSACTION_INFO = "webmagic_sqlite_transaction"
# Set by the unit of work in ``Connection.info`` on SQLite: its ``WriteGate``.
SQLITE_WRITE_GATE = "webmagic_sqlite_write_gate"

# Rows of any width (SQLAlchemy 2.1 types rows by their column tuple).
AnyRow = Row[*tuple[Any, ...]]


def begin_for_write(connection: Connection) -> None:
    """Make sure the transaction holds SQLite's write lock before it writes or locks rows.

    SQLite has one writer at a time and no row locks. A transaction that began DEFERRED
    reads from a snapshot; upgrading it to a writer after another connection committed
    fails at once with SQLITE_BUSY_SNAPSHOT (the busy timeout does not apply), so a
    unit of work that reads, then writes (create a site if the slug is free, register if
    the address is new) would fail under concurrent writers. Instead:

    - no transaction yet: BEGIN IMMEDIATE (wait for the write lock, then read);
    - a DEFERRED transaction that has changed nothing: end it and BEGIN IMMEDIATE. The
      reads before that point were a consistent snapshot; what follows sees every
      commit. That is what READ COMMITTED gives on PostgreSQL, which the services are
      written for: a check-then-insert race ends in the unique constraint's
      ``Conflict``, and a read-modify-write that must not lose an update reads
      ``for_update`` (which comes through here first).
    - already IMMEDIATE, or (written outside the repositories) DEFERRED with changes:
      nothing to do, and nothing is ever committed early.

    On PostgreSQL row locks (``FOR UPDATE``) do this job; nothing happens here.
    """
    if connection.dialect.name != "sqlite":
        return
    gate: WriteGate | None = connection.info.get(SQLITE_WRITE_GATE)
    if gate is not None and gate.held:
        return  # this unit of work's BEGIN IMMEDIATE is in force (the common case, and cheap)
    with translating_errors():
        if connection.in_transaction():
            mode, changes_at_begin = connection.info.get(SQLITE_TRANSACTION_INFO, ("IMMEDIATE", 0))
            raw = connection.connection.driver_connection
            if mode == "IMMEDIATE" or raw is None or raw.total_changes != changes_at_begin:
                return
            if connection.in_nested_transaction():
                return  # a savepoint is open: ending the transaction here would break it
            connection.commit()
        if gate is not None:
            gate.acquire()  # before BEGIN IMMEDIATE, holding no lock of SQLite's
        try:
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            connection.begin()
        except BaseException:
            if gate is not None:
                gate.release()
            raise


class WriteGate:
    """One process's queue for SQLite's write lock, held from BEGIN IMMEDIATE until the
    unit of work commits or rolls back (``SqlAlchemyUnitOfWork`` releases it).

    A writer that finds SQLite's lock taken polls for it, sleeping 1, 2, 5, 10 ... 100 ms
    between tries (SQLite's busy handler), so under a burst of writers the lock sits free
    while they sleep: the webhook benchmark kept half a core idle with a p99 near 0.5 s.
    Threads of one process queue on this lock instead and the next one starts the moment
    it is released; only writers in other processes still meet the busy handler.
    ``acquire`` gives up like the busy timeout does, with a ``TransientError``.
    """

    def __init__(self, lock: threading.Lock, timeout: float) -> None:
        self._lock = lock
        self._timeout = timeout
        self.held = False

    def acquire(self) -> None:
        if self.held:
            return
        if not self._lock.acquire(timeout=self._timeout):
            # What SQLITE_BUSY says once the busy timeout has passed (errors.transient_error).
            raise TransientError("the database is unavailable or busy, try again (database is locked)")
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._lock.release()


# Parameters for a statement built once: one mapping, or a list of them (executemany).
Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None

# The statements ``Lookup``, ``Insertion`` and ``updating`` built, run on the driver's
# cursor (``FastStatement``). Written when a module builds them, read on every execution;
# kept for the life of the process, so those three are for module constants only (one
# built per call would be compiled per call and never let go).
_FAST: dict[Executable, FastStatement] = {}
_FAST_LOCK = threading.Lock()


def _register(statement: Executable) -> None:
    """Run ``statement`` on the driver's cursor from now on, unless ``FastStatement``
    refuses it (a column with a Python-side default): it then stays on SQLAlchemy's path."""
    try:
        fast = FastStatement(statement)
    except ValueError:
        return
    with _FAST_LOCK:
        _FAST[statement] = fast


def fast_statement(statement: Executable) -> FastStatement | None:
    """The driver-cursor form of a statement built by ``Lookup``, ``Insertion`` or
    ``updating``; ``None`` for any other statement (and one ``FastStatement`` refused)."""
    return _FAST.get(statement)


def _run(connection: Connection, statement: Executable, params: Params) -> CursorResult[*tuple[Any, ...]]:
    """``connection.execute(statement, params)``, on the driver's cursor for a statement
    registered above. Its result has only ``first()`` and ``rowcount`` (``FastResult``),
    what the repositories read of these statements' results."""
    fast = _FAST.get(statement)
    if fast is not None and (params is None or isinstance(params, Mapping)):  # not executemany
        form = fast.form(connection, params)
        if form is not None:
            return form.execute(connection, params or {})  # type: ignore[return-value]
    return connection.execute(statement, params)


class Lookup:
    """A SELECT built once with bind parameters, and its ``FOR UPDATE`` twin.

    Repositories keep their hot statements as module constants and pass the values at
    execution, instead of building, coercing and hashing a new statement per call (about
    4x less time per statement on SQLite, where that overhead is most of the cost). Built
    here, they are registered to run on the driver's cursor (``FastStatement``), compiled
    once per dialect; ``Insertion`` and ``updating`` register theirs the same way.
    """

    def __init__(self, query: Select[*tuple[Any, ...]]) -> None:
        self.plain = query
        self.locked = query.with_for_update()
        _register(self.plain)
        _register(self.locked)


class Insertion:
    """An INSERT built once (see ``Lookup``), and its PostgreSQL twin ``INSERT ... ON
    CONFLICT DO NOTHING``: there a clash changes nothing and reports no row instead of
    failing, so ``_insert_unique`` needs no savepoint to keep the transaction going (two
    round trips fewer per insert). A clash with a row another transaction is inserting
    still waits for that transaction, as a plain INSERT does."""

    def __init__(self, table: Table) -> None:
        self.plain = insert(table)
        # RETURNING says whether a row went in (rowcount is not reported with RETURNING,
        # which SQLAlchemy adds anyway for an autoincrement key).
        self.skipping_clashes = (
            postgresql.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
        )
        _register(self.plain)
        _register(self.skipping_clashes)


def updating(table: Table, key: Column[Any], columns: Iterable[str]) -> Update:
    """``UPDATE table SET column = :column, ... WHERE key = :_key``, built once."""
    statement = (
        update(table).where(key == bindparam("_key")).values({name: bindparam(name) for name in columns})
    )
    _register(statement)
    return statement


def entity_columns(table: Table) -> tuple[Column[Any], ...]:
    """Every column but ``seq``, which only keeps the insertion order (for ties in time)."""
    return tuple(c for c in table.c if c.name != "seq")


class SqlAlchemyRepository:
    """Runs on the connection of the unit of work that owns it (``connection()``)."""

    def __init__(self, connection: Callable[[], Connection]) -> None:
        self._connection = connection

    def _execute(self, statement: Executable, params: Params = None) -> CursorResult[*tuple[Any, ...]]:
        with translating_errors():
            return _run(self._connection(), statement, params)

    def _write(self, statement: Executable, params: Params = None) -> CursorResult[*tuple[Any, ...]]:
        self._begin_for_write()
        return self._execute(statement, params)

    def _select(self, query: Select[*tuple[Any, ...]], *, for_update: bool) -> CursorResult[*tuple[Any, ...]]:
        """Run ``query``; ``for_update`` locks the rows it finds until commit (``FOR
        UPDATE`` on PostgreSQL, the write lock on SQLite)."""
        if for_update:
            self._begin_for_write()
            query = query.with_for_update()
        return self._execute(query)

    def _lookup(self, lookup: Lookup, params: Params, *, for_update: bool) -> CursorResult[*tuple[Any, ...]]:
        """``_select`` for a statement built once."""
        if for_update:
            self._begin_for_write()
            return self._execute(lookup.locked, params)
        return self._execute(lookup.plain, params)

    def _newest(
        self, table: Table, time: Column[Any], limit: int, *where: ColumnElement[bool]
    ) -> Sequence[AnyRow]:
        """Up to ``limit`` rows of a table with ``seq``, newest first (``time``, then ``seq``)."""
        if limit <= 0:
            return []
        query = (
            select(*entity_columns(table))
            .where(*where)
            .order_by(time.desc(), table.c.seq.desc())
            .limit(limit)
        )
        return self._execute(query).all()

    def _oldest(self, table: Table, time: Column[Any], *where: ColumnElement[bool]) -> Sequence[AnyRow]:
        """Every row of a table with ``seq``, oldest first (``time``, then ``seq``)."""
        query = select(*entity_columns(table)).where(*where).order_by(time, table.c.seq)
        return self._execute(query).all()

    def _insert_unique(
        self, statement: Insertion | Executable, conflict: str | Callable[[], str], params: Params = None
    ) -> None:
        """Insert so that a clash (a unique or primary key taken) leaves the transaction
        usable, and report the clash as ``Conflict``. ``conflict`` may be a function,
        called after the clash, that says which rule was broken."""
        if isinstance(statement, Insertion):
            if self._connection().dialect.name == "postgresql":
                if self._write(statement.skipping_clashes, params).first() is None:
                    raise Conflict(conflict if isinstance(conflict, str) else conflict())
                return
            statement = statement.plain
        self._write_unique(statement, conflict, params)

    def _write_unique(
        self, statement: Executable, conflict: str | Callable[[], str], params: Params = None
    ) -> int:
        """Run an INSERT or UPDATE like ``_insert_unique``; returns the rows it changed.

        PostgreSQL aborts the whole transaction on an error, so the statement runs inside
        a savepoint there. SQLite undoes only the failing statement and keeps the
        transaction going (its default ``ON CONFLICT ABORT``), so no savepoint is needed:
        two statements fewer per write."""
        self._begin_for_write()
        connection = self._connection()
        with translating_errors():
            try:
                if connection.dialect.name == "sqlite":
                    return _run(connection, statement, params).rowcount
                with connection.begin_nested():
                    return _run(connection, statement, params).rowcount
            except sa_exc.IntegrityError as error:
                if is_unique_violation(error):
                    raise Conflict(conflict if isinstance(conflict, str) else conflict()) from None
                raise

    def _begin_for_write(self) -> None:
        begin_for_write(self._connection())
