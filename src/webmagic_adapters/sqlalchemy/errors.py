"""Turning driver faults into the core's typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from webmagic_core.errors import TransientError


def is_transient(error: BaseException) -> bool:
    """A fault that may pass on retry: a busy/locked SQLite file, a lost or refused
    connection, a PostgreSQL serialization failure or deadlock, an exhausted pool."""
    if isinstance(error, sa_exc.OperationalError | sa_exc.TimeoutError):
        return True
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated


def describe(error: BaseException) -> str:
    """The driver's first line, without SQL or parameters (which may hold user data)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def transient_error(error: BaseException) -> TransientError:
    return TransientError(f"the database is unavailable or busy, try again ({describe(error)})")


@contextmanager
def translating_errors() -> Iterator[None]:
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as error:
        if is_transient(error):
            raise transient_error(error) from error
        raise


def is_unique_violation(error: sa_exc.IntegrityError) -> bool:
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is not None:  # psycopg
        return bool(sqlstate == "23505")
    message = str(original)
    return "UNIQUE constraint failed" in message or "PRIMARY KEY constraint failed" in message
