"""Turning driver faults into the core's typed errors."""

from __future__ import annotations

import re
from types import TracebackType

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


# The server's words when the URL names a database it does not have (no SQLSTATE reaches
# the client for a refused connection, so the message is all there is).
_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')


def transient_error(error: BaseException) -> TransientError:
    missing = _MISSING_DATABASE.search(describe(error))
    if missing:
        # Not busy: retrying will not help. Still a TransientError, so HTTP answers 503.
        return TransientError(
            f"the PostgreSQL database {missing[1]!r} does not exist: create it "
            f"(createdb {missing[1]}) or fix WEBMAGIC_DATABASE_URL"
        )
    return TransientError(f"the database is unavailable or busy, try again ({describe(error)})")


class _TranslatingErrors:
    """Transient driver faults become ``TransientError``; others pass unchanged. A plain
    class rather than a ``@contextmanager`` generator: it wraps every statement, and
    costs a fraction of a generator's set-up."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(error, sa_exc.DBAPIError | sa_exc.TimeoutError) and is_transient(error):
            raise transient_error(error) from error


_TRANSLATING_ERRORS = _TranslatingErrors()


def translating_errors() -> _TranslatingErrors:
    """``with translating_errors(): ...``"""
    return _TRANSLATING_ERRORS


def is_unique_violation(error: sa_exc.IntegrityError) -> bool:
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is not None:  # psycopg
        return bool(sqlstate == "23505")
    message = str(original)
    return "UNIQUE constraint failed" in message or "PRIMARY KEY constraint failed" in message
