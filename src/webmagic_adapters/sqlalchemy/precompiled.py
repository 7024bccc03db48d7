"""SELECTs compiled once for a dialect and run straight on the driver's cursor.

For a read path that runs many small statements per request (the portal's site page runs
ten), SQLAlchemy's per-execution machinery -- the compiled-cache lookup, an execution
context, a ``CursorResult`` and its row objects -- costs several times what SQLite takes to
answer. A ``Precompiled`` statement keeps what SQLAlchemy would do and drops the rest: the
SQL text and parameter order come from SQLAlchemy's compiler for the engine's dialect, and
each bound value and each result column goes through the same type processors SQLAlchemy
would apply (so a UUID stored as text on SQLite is a ``uuid.UUID`` here too, a timestamp
comes back timezone-aware through ``UTCDateTime``). Rows are named tuples: ``row.column``
reads as it does on a SQLAlchemy row.

The statements must run inside a transaction the caller began on a SQLAlchemy
``Connection`` (``connection.begin()``), whose driver connection they borrow, so the
engine's begin hooks (SQLite's ``BEGIN``) still apply. Only statements whose bind values
are all plain (no ``expanding`` IN lists) can be precompiled."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


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
        columns = list(statement.selected_columns)
        # The columns whose values need converting, with their converters.
        self._processed: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                self._processed.append((index, process))
        self._row: Any = namedtuple("Row", [column.key for column in columns], rename=True)  # type: ignore[misc]

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

    def _make(self, row: tuple[Any, ...]) -> Any:
        if self._processed:
            values = list(row)
            for index, process in self._processed:
                value = values[index]
                if value is not None:
                    values[index] = process(value)
            return self._row._make(values)
        return self._row._make(row)
