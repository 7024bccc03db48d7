"""Statements compiled once for a dialect and run straight on the driver's cursor.

For a path that runs many small statements per request (the portal's site page runs ten,
a webhook about thirteen), SQLAlchemy's per-execution machinery -- the compiled-cache
lookup, an execution context, a ``CursorResult`` and its row objects -- costs several
times what SQLite takes to answer. The statements here keep what SQLAlchemy would do and
drop the rest: the SQL text and parameter order come from SQLAlchemy's compiler for the
engine's dialect, and each bound value and each result column goes through the same type
processors SQLAlchemy would apply (so a UUID stored as text on SQLite is a ``uuid.UUID``
here too, a timestamp comes back timezone-aware through ``UTCDateTime``). Rows are named
tuples: ``row.column`` reads as it does on a SQLAlchemy row.

- ``Precompiled``: a SELECT the caller runs with ``all``/``first`` (the site page). It
  must run inside a transaction the caller began on a SQLAlchemy ``Connection``
  (``connection.begin()``), whose driver connection it borrows, so the engine's begin
  hooks (SQLite's ``BEGIN``) still apply. Only statements whose bind values are all plain
  (no ``expanding`` IN lists) can be precompiled.
- ``FastStatement``: a SELECT, INSERT or UPDATE (with or without RETURNING) that
  ``repositories._run`` runs in place of ``connection.execute`` for the statements
  ``Lookup``, ``Insertion`` and ``updating`` build. It does what ``Connection.execute``
  does around the driver call, in the same order: autobegin (the begin hooks run), refuse
  a failed transaction, wrap a driver error as SQLAlchemy does (``DBAPIError``, a lost
  connection invalidated), so ``translating_errors`` and ``is_unique_violation`` read it
  the same. Its result (``FastResult``) has only what the repositories read of these
  statements' results: ``first()`` and ``rowcount``. A table with a Python-side
  ``default=``/``onupdate=`` is refused (SQLAlchemy fills those at execution, the cursor
  would not), and so is, per execution, anything SQLAlchemy would report to someone: a
  list of parameter sets (executemany), a statement-event listener, an echoing engine."""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Executable, Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.util import TransactionalContext
from sqlalchemy.exc import DBAPIError, ResourceClosedError

# What ``FastStatement`` runs.
_Statement = Select[*tuple[Any, ...]] | Insert | Update


class _RowMaker:
    """Rows as SQLAlchemy would give them: each column through its type's result
    processor (a UUID stored as text, an aware datetime...), as a named tuple
    (``row.column``; ``row[0]``)."""

    __slots__ = ("_processed", "_row")

    def __init__(self, columns: Sequence[Any], dialect: Dialect) -> None:
        # The columns whose values need converting, with their converters.
        self._processed: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                self._processed.append((index, process))
        names = [column.key for column in columns] or ["_"]
        self._row: Any = namedtuple("Row", names, rename=True)  # type: ignore[misc]

    def __call__(self, row: Sequence[Any]) -> Any:
        if self._processed:
            values = list(row)
            for index, process in self._processed:
                value = values[index]
                if value is not None:
                    values[index] = process(value)
            return self._row._make(values)
        return self._row._make(row)


class Precompiled:
    def __init__(self, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("an expanding IN parameter cannot be precompiled")
        self._compiled = compiled
        self._driver_error: type[Exception] = dialect.loaded_dbapi.Error
        self._sql = str(compiled)
        self._positions = compiled.positiontup  # None for a named paramstyle (psycopg)
        self._bind = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        self._make = _RowMaker(list(statement.selected_columns), dialect)

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        cursor = self._execute(connection, params)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return [self._make(row) for row in rows]

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Any | None:
        cursor = self._execute(connection, params)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return self._make(row) if row is not None else None

    def _execute(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        values = self._compiled.construct_params(dict(params))
        for name, process in self._bind.items():
            if process is not None:
                values[name] = process(values[name])
        raw = connection.connection.driver_connection
        if raw is None:
            raise RuntimeError("the connection is closed")
        cursor = raw.cursor()
        try:
            if self._positions is not None:
                cursor.execute(self._sql, tuple(values[name] for name in self._positions))
            else:
                cursor.execute(self._sql, values)
        except self._driver_error as error:
            cursor.close()
            # As SQLAlchemy raises it, so ``translating_errors`` reads it the same way.
            raise DBAPIError.instance(self._sql, values, error, self._driver_error) from error
        except BaseException:
            cursor.close()
            raise
        return cursor


def observed(connection: Connection) -> bool:
    """Whether SQLAlchemy would report an execution on ``connection`` to anyone: a
    listener on a statement event (tests inject faults through ``before_cursor_execute``)
    or an engine that echoes its SQL. ``FastStatement`` then leaves the statement to
    SQLAlchemy, so they still see it."""
    dispatch = connection.dispatch
    return bool(
        connection._echo
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
        or dispatch.before_execute
        or dispatch.after_execute
    )


def _has_python_defaults(table: Any) -> bool:
    """A column SQLAlchemy fills at execution (``default=``, ``onupdate=``, a Sequence)."""
    return any(c.default is not None or c.onupdate is not None for c in table.columns)


class FastResult:
    """What the repositories read of a ``FastStatement``'s result, and nothing more:
    ``rowcount``, ``first()`` and ``all()``. Anything else raises ``AttributeError`` (``__slots__``)
    rather than behaving unlike a ``CursorResult``."""

    __slots__ = ("_form", "_rows", "rowcount")

    def __init__(self, form: _Form, rows: list[Any] | None, rowcount: int) -> None:
        self._form = form
        self._rows = rows  # None: the statement returns no rows (as SQLAlchemy sees it)
        self.rowcount = rowcount

    def first(self) -> Any | None:
        rows = self._take()
        return self._form.make_row(rows[0]) if rows else None

    def all(self) -> list[Any]:
        make = self._form.make_row
        return [make(row) for row in self._take()]

    def _take(self) -> list[Any]:
        """The rows, once: as SQLAlchemy's, ``first()`` and ``all()`` close the result."""
        rows = self._rows
        if rows is None:
            raise ResourceClosedError(
                "This result object does not return rows. It has been closed automatically."
            )
        if rows is _CONSUMED:
            raise ResourceClosedError("This result object is closed.")
        self._rows = _CONSUMED
        return rows


class _Form:
    """One statement compiled for one dialect and one set of parameter names, run on the
    driver's cursor the way ``Connection.execute`` runs it (see ``FastStatement``)."""

    def __init__(self, statement: _Statement, dialect: Dialect, keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("an expanding or literal-execute parameter cannot be precompiled")
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("a column with a Python-side default cannot be precompiled")
        if compiled.escaped_bind_names or compiled.schema_translate_map:
            raise ValueError("escaped parameter names or a schema translation cannot be precompiled")
        if compiled.for_executemany:
            raise ValueError("an executemany form cannot be precompiled")
        self._compiled = compiled
        self._sql = compiled.string
        self._driver_error: type[Exception] = dialect.loaded_dbapi.Error
        # Flat: a sequence of processors is only for tuple-IN parameters, refused above.
        processors = cast("Mapping[str, Callable[[Any], Any]]", compiled._bind_processors)
        self._processors = processors
        self._sequence = dialect.execute_sequence_format
        # (name, processor or None) in the driver's order; None for a named paramstyle (psycopg).
        self._positions = (
            [(name, processors.get(name)) for name in compiled.positiontup]
            if compiled.positional and compiled.positiontup is not None
            else None
        )
        if isinstance(statement, Select):
            columns = list(statement.selected_columns)
        else:
            # Explicit RETURNING only: rows SQLAlchemy fetches for itself (the implicit
            # RETURNING of an autoincrement key on PostgreSQL) are not the caller's.
            columns = list(statement.exported_columns)
        self.returns_rows = bool(columns)
        self.make_row = _RowMaker(columns, dialect)

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> FastResult:
        # In the order of ``Connection._execute_context``: the pooled connection (or the
        # error a closed or invalidated one raises), the parameters (a failing processor or
        # a missing value raises as there, wrapped in ``StatementError``), the transaction
        # (a failed one raises ``PendingRollbackError``; none yet: autobegin, so the
        # engine's ``begin`` hooks run), then the driver.
        pooled = connection.connection
        try:
            values = self._values(params)
        except BaseException as error:
            connection._handle_dbapi_exception(error, self._sql, params, None, None)
        transaction, nested = connection._transaction, connection._nested_transaction
        if (transaction is not None and not transaction.is_active) or (
            nested is not None and not nested.is_active
        ):
            connection._invalid_transaction()
        elif connection._trans_context_manager:
            TransactionalContext._trans_ctx_check(connection)
        if transaction is None:
            connection._autobegin()
        driver = pooled.driver_connection
        if driver is None:
            raise ResourceClosedError("the connection is closed")
        cursor = driver.cursor()
        try:
            cursor.execute(self._sql, values)
            rowcount = cursor.rowcount
            rows = cursor.fetchall() if cursor.description is not None else None
        except Exception as error:
            if isinstance(error, self._driver_error):
                # As SQLAlchemy raises it (``DBAPIError.instance``, a lost connection
                # invalidated), so ``translating_errors`` reads it the same way.
                connection._handle_dbapi_exception(error, self._sql, values, cursor, None)
            cursor.close()
            raise
        except BaseException as error:  # an exit exception: SQLAlchemy drops the connection
            connection._handle_dbapi_exception(error, self._sql, values, cursor, None)
        cursor.close()
        if rows is not None and not self.returns_rows:
            # Only the implicit RETURNING of an autoincrement key (PostgreSQL): SQLAlchemy
            # keeps those rows and reads the count once the cursor is closed (psycopg: -1).
            rowcount = cursor.rowcount
            rows = None
        return FastResult(self, rows, rowcount)

    def _values(self, params: Mapping[str, Any]) -> Any:
        compiled_params = self._compiled.construct_params(params, escape_names=False)
        if self._positions is not None:
            return self._sequence(
                [
                    compiled_params[name] if process is None else process(compiled_params[name])
                    for name, process in self._positions
                ]
            )
        processors = self._processors
        return {
            name: processors[name](value) if name in processors else value
            for name, value in compiled_params.items()
        }


class FastStatement:
    """A SELECT, INSERT or UPDATE built once, run on the driver's cursor.

    Compiled lazily, once per dialect and (INSERT, UPDATE: SQLAlchemy compiles those per
    set of parameter names, an ``insert(table)`` without ``.values()`` inserts just the
    columns given) per set of parameter names; thread-safe. ``form`` says ``None`` where
    SQLAlchemy must run the statement instead: a parameter form it cannot take
    (expanding, executemany) or a listener on the statement events (``observed``).

    A table with a column SQLAlchemy fills itself at execution (a Python-side
    ``default=`` or ``onupdate=``) is refused at construction (``ValueError``): this path
    would silently leave that column out."""

    def __init__(self, statement: Executable) -> None:
        if isinstance(statement, Insert | Update):
            if _has_python_defaults(statement.table):
                raise ValueError(f"{statement.table} has a column with a Python-side default")
            self._by_keys = True
        elif isinstance(statement, Select):
            self._by_keys = False
        else:
            raise ValueError(
                f"only a SELECT, INSERT or UPDATE can be precompiled, not {type(statement).__name__}"
            )
        self._statement: _Statement = statement

    def form(self, connection: Connection, params: Any) -> _Form | None:
        if params is None:
            params = {}
        elif not isinstance(params, Mapping):
            return None  # executemany (a list of mappings): SQLAlchemy's insertmanyvalues
        if observed(connection):
            return None
        dialect = connection.dialect
        key = tuple(params) if self._by_keys else None
        cache: _Cache | None = dialect.__dict__.get(_CACHE)
        if cache is not None:
            forms = cache.get(self)
            if forms is not None:
                form = forms.get(key, _MISSING)
                if form is not _MISSING:
                    return form  # type: ignore[return-value]
        with _CACHE_LOCK:
            cache = dialect.__dict__.setdefault(_CACHE, {})
            forms = cache.setdefault(self, {})
            if key not in forms:
                try:
                    forms[key] = _Form(self._statement, dialect, sorted(params) if self._by_keys else ())
                except ValueError:
                    forms[key] = None
            return forms[key]

    def prepared(self, dialect: Dialect) -> list[tuple[str, ...] | None]:
        """The parameter sets this statement has a driver form for on ``dialect``."""
        forms = dialect.__dict__.get(_CACHE, {}).get(self, {})
        return [key for key, form in forms.items() if form is not None]


# The forms live on the dialect they were compiled for (each engine has its own), and go
# with it: a compiled form refers to its dialect, so a cache outside would keep every
# engine's dialect alive. Statement -> parameter names (as given) -> form, or None where
# SQLAlchemy's path must run it. Read without a lock (one dict lookup at a time), written
# under ``_CACHE_LOCK``.
_CACHE = "_webmagic_fast_statements"
_CACHE_LOCK = threading.Lock()
_Cache = dict["FastStatement", dict[tuple[str, ...] | None, "_Form | None"]]
_MISSING = object()
_CONSUMED: list[Any] = []
