"""The sandbox test clock: the application's time, moved forward by an offset stored in the
database, so the server, the relay, the sweep and every CLI command see the same moved time.

With sandbox payments the bootstrap wraps the system clock in ``SandboxClock``; with real
payments it never does (a stored offset is then ignored, and ``webmagic sandbox clock``
refuses to run). ``SandboxClock`` re-reads the offset at most once per ``refresh`` seconds
(by the monotonic clock), so asking the time costs one query a second per process, not one
per call; another process sees an advance within that second. The offset only grows
(``advance``) or goes back to zero (``reset``): time moved backwards would make sites,
tokens and mail already dated in the "future" inconsistent.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from webmagic_adapters.sqlalchemy.tables import sandbox_clock
from webmagic_core.ports import Clock

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
_ROW = 1
_PART = re.compile(r"(\d+)([wdhm])")
_UNITS = {
    "w": dt.timedelta(weeks=1),
    "d": dt.timedelta(days=1),
    "h": dt.timedelta(hours=1),
    "m": dt.timedelta(minutes=1),
}


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> dt.timedelta:
    """``25d``, ``12h``, ``90m``, ``2w``, or parts together (``1d12h``): a positive duration."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or _PART.sub("", compact):
        raise DurationError(
            f"not a duration: {text!r} (use a number and a unit: 25d, 12h, 90m, 2w, or 1d12h)"
        )
    total = sum((int(n) * _UNITS[unit] for n, unit in _PART.findall(compact)), dt.timedelta(0))
    if total <= dt.timedelta(0):
        raise DurationError(f"the clock only moves forward: {text!r} is no time at all")
    return total


def describe_offset(offset: dt.timedelta) -> str:
    """``25d 4h 30m`` (zero parts left out; ``0m`` for none)."""
    minutes = int(offset.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{value}{unit}" for value, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if value]
    return " ".join(parts) or "0m"


@attrs.define
class SandboxClockStore:
    """The stored offset (table ``sandbox_clock``, one row)."""

    engine: Engine

    def offset(self) -> dt.timedelta:
        with self.engine.connect() as connection:
            seconds = connection.execute(
                sa.select(sandbox_clock.c.offset_seconds).where(sandbox_clock.c.id == _ROW)
            ).scalar()
        return dt.timedelta(seconds=seconds or 0)

    def advance(self, by: dt.timedelta, *, now: dt.datetime) -> dt.timedelta:
        """Move forward by ``by`` (positive); the new offset. Concurrent advances add up."""
        if by <= dt.timedelta(0):
            raise DurationError("the clock only moves forward (use reset to go back to real time)")
        seconds = int(by.total_seconds())
        with self.engine.begin() as connection:
            moved = connection.execute(
                sa.update(sandbox_clock)
                .where(sandbox_clock.c.id == _ROW)
                .values(offset_seconds=sandbox_clock.c.offset_seconds + seconds, updated_at=now)
            ).rowcount
            if not moved:
                connection.execute(
                    sa.insert(sandbox_clock).values(id=_ROW, offset_seconds=seconds, updated_at=now)
                )
        return self.offset()

    def reset(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(sandbox_clock))


@attrs.define
class SandboxClock:
    """A ``Clock``: ``base`` plus the stored offset, re-read at most once per ``refresh`` s."""

    base: Clock
    store: SandboxClockStore
    refresh: float = REFRESH_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    _offset: dt.timedelta = attrs.field(default=dt.timedelta(0), init=False)
    _read_at: float | None = attrs.field(default=None, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def now(self) -> dt.datetime:
        return self.base.now() + self.offset()

    def offset(self) -> dt.timedelta:
        with self._lock:
            tick = self.monotonic()
            if self._read_at is not None and tick - self._read_at < self.refresh:
                return self._offset
            self._read_at = tick
            try:
                self._offset = self.store.offset()
            except sa_exc.SQLAlchemyError as error:
                # Not migrated yet, or the database is briefly away: keep the last offset
                # (zero at first) rather than fail every caller that asks the time.
                log.warning("sandbox clock: offset not read (%s)", type(error).__name__)
            return self._offset
