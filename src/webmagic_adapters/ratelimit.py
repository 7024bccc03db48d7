"""The ``RateLimiter`` on the ``limits`` package: its moving-window strategy over its memory
storage (one process, the default) or its Redis storage and Lua scripts (limits shared by
every instance).

Both storages keep, per key, the times of its counted events, newest first, never more than
the limit (a refused event is not counted), so the wait until one more event fits is exact:
the time the ``limit``-th newest event leaves its window. What is ours, not the library's:

- Time comes from the limiter's ``Clock`` (the library reads ``time.time()``), so tests
  drive both storages with a ``FakeClock``. It is counted in whole milliseconds, which the
  Redis scripts store exactly, and handed to the storages in that unit. The library keeps
  an event while ``time >= now - expiry``; passing ``expiry = window - 1 ms`` makes an event
  leave exactly when its window ends, so a client that waits ``Retry-After`` seconds is let in.
- Redis keys are given a TTL of their window (``PEXPIRE``, sent with the script in one round
  trip: the script's own ``EXPIRE`` reads the expiry as seconds), so abandoned keys free
  themselves. The memory storage is swept by the clock every ``sweep_every`` calls (a key
  whose newest event left its window is dropped) instead of by the library's wall-clock
  timer thread.
- A Redis failure becomes a ``TransientError`` that names the server, never its password.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from typing import Any, cast
from urllib.parse import urlsplit

import attrs
import redis
from limits.storage import MemoryStorage, RedisStorage
from limits.storage.base import MovingWindowSupport
from limits.storage.memory import Entry
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from webmagic_adapters.settings import SettingsError
from webmagic_core.clock import SystemClock
from webmagic_core.errors import TransientError
from webmagic_core.ports import Clock
from webmagic_core.ratelimit import check_limit

KEY_PREFIX = "webmagic:rl:"
DEFAULT_TIMEOUT = 1.0
# How many calls between two sweeps of the memory storage. A sweep walks every key once, so
# this keeps its cost per call constant while a flood of distinct keys (a guessed email per
# request, say) is bounded to the keys still inside their window plus this many.
DEFAULT_SWEEP_EVERY = 1024

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s@]+@")


_MS = dt.timedelta(milliseconds=1)


def _milliseconds(clock: Clock) -> int:
    """The clock's time in whole milliseconds since the epoch (the storages' time unit here)."""
    return (clock.now() - _EPOCH) // _MS


class _ClockedMemoryStorage(MemoryStorage):
    """limits' memory storage on a ``Clock``, swept by that clock."""

    def __init__(self, clock: Clock, sweep_every: int) -> None:
        super().__init__()
        # The library's timer expires entries by wall-clock time, which a FakeClock is not.
        self.timer.cancel()
        self.clock = clock
        self.sweep_every = sweep_every
        self._calls = 0
        self._sweep_lock = threading.Lock()

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = _milliseconds(self.clock)
        self._maybe_sweep(now)
        with self.locks[key]:
            events = self.events.setdefault(key, [])
            if len(events) >= limit and events[limit - 1].atime >= now - expiry:
                return False
            entry = Entry(expiry)
            entry.atime, entry.expiry = now, now + expiry
            events[:0] = [entry] * amount
            del events[limit:]  # as the Redis script trims: older events can never count again
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        # Like the Redis script: the oldest of the newest ``limit`` events still inside the
        # window, and how many of them are.
        now = _milliseconds(self.clock)
        with self.locks[key]:
            inside = [e.atime for e in self.events.get(key, [])[:limit] if e.atime >= now - expiry]
        return (inside[-1], len(inside)) if inside else (now, 0)

    def _maybe_sweep(self, now: int) -> None:
        with self._sweep_lock:
            self._calls += 1
            if self._calls < self.sweep_every:
                return
            self._calls = 0
        for key in list(self.events):
            with self.locks[key]:
                events = self.events.get(key)
                # Newest first: the key is idle once its newest event has left its window.
                if not events or events[0].expiry < now:
                    self.events.pop(key, None)
            if key not in self.events:
                self.locks.pop(key, None)

    def __len__(self) -> int:
        return len(self.events)


class _ClockedRedisStorage(RedisStorage):
    """limits' Redis storage and its Lua scripts, given the time by a ``Clock``."""

    def __init__(self, uri: str, clock: Clock, key_prefix: str, options: dict[str, Any]) -> None:
        super().__init__(uri, key_prefix=key_prefix, **options)
        self.clock = clock

    @property
    def client(self) -> redis.Redis:
        return cast("redis.Redis", self.get_connection())

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = _milliseconds(self.clock)
        return bool(self.lua_acquire_moving_window([self.prefixed_key(key)], [now, limit, expiry, amount]))

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = _milliseconds(self.clock)
        if window := self.lua_moving_window([self.prefixed_key(key)], [now - expiry, limit]):
            return float(window[0]), int(window[1])
        return now, 0

    def acquire_with_ttl(self, key: str, limit: int, expiry: int, ttl_ms: int) -> bool:
        """``acquire_entry``, then the key's TTL set in milliseconds, in one round trip."""
        now = _milliseconds(self.clock)
        key = self.prefixed_key(key)
        with self.client.pipeline(transaction=False) as pipe:
            self.lua_acquire_moving_window([key], [now, limit, expiry, 1], client=pipe)
            pipe.pexpire(key, ttl_ms)
            acquired, _expiry_set = pipe.execute()
        return bool(acquired)


def _describe_server(url: str) -> str:
    """``host:port/db`` (or the socket path) of a Redis URL, without credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path or "a unix socket"
    try:
        port = parts.port or 6379
    except ValueError:
        port = None
    where = f"{parts.hostname or 'localhost'}:{port}" if port else str(parts.hostname or "localhost")
    database = parts.path.strip("/")
    return f"{where}/{database}" if database else where


@attrs.define
class LimitsRateLimiter:
    """``RateLimiter`` over a ``limits`` moving-window storage. Thread-safe."""

    storage: MovingWindowSupport
    clock: Clock
    server: str = "memory"

    def hit(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        expiry = self._expiry(limit, window)
        try:
            if isinstance(self.storage, _ClockedRedisStorage):
                acquired = self.storage.acquire_with_ttl(key, limit, expiry, expiry + 1)
            else:
                acquired = self.storage.acquire_entry(key, limit, expiry)
            if acquired:
                return None
            return self._wait(key, limit, expiry)
        except redis.RedisError as error:
            raise self._unavailable(error) from None

    def peek(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        expiry = self._expiry(limit, window)
        try:
            _start, count = self.storage.get_moving_window(key, limit, expiry)
            return None if count < limit else self._wait(key, limit, expiry)
        except redis.RedisError as error:
            raise self._unavailable(error) from None

    def reset(self, key: str) -> None:
        try:
            self.storage.clear(key)  # type: ignore[attr-defined]  # every limits storage has it
        except redis.RedisError as error:
            raise self._unavailable(error) from None

    def close(self) -> None:
        if isinstance(self.storage, _ClockedRedisStorage):
            self.storage.client.close()

    def _wait(self, key: str, limit: int, expiry: int) -> int:
        start, _count = self.storage.get_moving_window(key, limit, expiry)
        # The oldest counted event leaves at start + window (= start + expiry + 1 ms). Capped
        # at the window: a clock stepped backwards must not block for longer.
        frees_in_ms = min(int(start) + expiry + 1 - _milliseconds(self.clock), expiry + 1)
        return max(1, math.ceil(frees_in_ms / 1000))

    @staticmethod
    def _expiry(limit: int, window: dt.timedelta) -> int:
        """The library's ``expiry``, in the milliseconds the storages count in here."""
        check_limit(limit, window)
        return max(1, math.ceil(window / _MS)) - 1

    def _unavailable(self, error: redis.RedisError) -> TransientError:
        reason = " ".join(_URL_CREDENTIALS.sub(r"\1***@", str(error)).split()) or type(error).__name__
        return TransientError(f"the rate-limit store ({self.server}) is unavailable: {reason}")


def memory_rate_limiter(
    clock: Clock | None = None, *, sweep_every: int = DEFAULT_SWEEP_EVERY
) -> LimitsRateLimiter:
    """Limits counted in this process only (one app instance)."""
    clock = clock or SystemClock()
    return LimitsRateLimiter(_ClockedMemoryStorage(clock, sweep_every), clock)


def redis_rate_limiter(
    url: str,
    *,
    clock: Clock | None = None,
    prefix: str = KEY_PREFIX,
    timeout: float = DEFAULT_TIMEOUT,
) -> LimitsRateLimiter:
    """Limits shared through the Redis at ``url`` (redis://, rediss:// or unix://); connects lazily.

    ``timeout`` bounds connecting and each reply (seconds); a dropped connection is retried
    once, so an unreachable Redis fails a request quickly instead of stalling it.
    """
    clock = clock or SystemClock()
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(
            f"WEBMAGIC_REDIS_URL: the scheme must be redis://, rediss:// or unix://, not {scheme}"
        )
    try:
        storage = _ClockedRedisStorage(
            url,
            clock,
            prefix.removesuffix(":"),
            {
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
                "retry": Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1),
                "health_check_interval": 30,
            },
        )
    except ValueError as error:
        # redis-py's messages name the part that is wrong, never the URL itself.
        raise SettingsError(f"WEBMAGIC_REDIS_URL: {error}") from None
    return LimitsRateLimiter(storage, clock, server=f"Redis at {_describe_server(url)}")
