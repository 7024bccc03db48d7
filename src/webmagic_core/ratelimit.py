"""The in-memory ``RateLimiter``: the production default for one process, and the limiter
the unit tests drive with a ``FakeClock`` (it needs only the stdlib, like ``SystemClock``).

A sliding-window log: each key keeps the times of its counted events (never more than its
limit, since refused events are not counted), so ``retry_after`` is exact. Keys whose
events have all left their window are swept now and then, so a flood of distinct keys
(say, one per guessed email address) cannot grow memory without bound.
"""

from __future__ import annotations

import collections
import datetime as dt
import math
import threading

import attrs

from webmagic_core.clock import SystemClock
from webmagic_core.ports import Clock


@attrs.define
class _Bucket:
    window: dt.timedelta
    events: collections.deque[dt.datetime] = attrs.field(factory=collections.deque)

    def prune(self, now: dt.datetime) -> None:
        while self.events and self.events[0] + self.window <= now:
            self.events.popleft()

    def wait(self, limit: int, now: dt.datetime) -> int | None:
        """Seconds until one more event fits, or None if it fits now."""
        if len(self.events) < limit:
            return None
        # Once the oldest (len - limit + 1) events have left the window, one more fits.
        frees_at = self.events[len(self.events) - limit] + self.window
        # Capped at the window: a clock stepped backwards must not block for longer.
        seconds = min((frees_at - now).total_seconds(), self.window.total_seconds())
        return max(1, math.ceil(seconds))


def _check(limit: int, window: dt.timedelta) -> None:
    if limit < 1:
        raise ValueError(f"a rate limit must allow at least one event, not {limit}")
    if window <= dt.timedelta(0):
        raise ValueError(f"a rate-limit window must be positive, not {window}")


@attrs.define
class InMemoryRateLimiter:
    """Thread-safe (the HTTP layer calls services from worker threads); per process only:
    several app instances share limits through the Redis limiter instead."""

    clock: Clock = attrs.field(factory=SystemClock)
    sweep_every: int = 1024
    _buckets: dict[str, _Bucket] = attrs.field(factory=dict, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)
    _operations: int = attrs.field(default=0, init=False, repr=False)

    def hit(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        _check(limit, window)
        now = self.clock.now()
        with self._lock:
            self._maybe_sweep(now)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(window)
            bucket.window = window
            bucket.prune(now)
            wait = bucket.wait(limit, now)
            if wait is None:
                bucket.events.append(now)
            return wait

    def peek(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        _check(limit, window)
        now = self.clock.now()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return None
            bucket.window = window
            bucket.prune(now)
            return bucket.wait(limit, now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._buckets.pop(key, None)

    def __len__(self) -> int:
        """How many keys are tracked (swept keys excluded)."""
        with self._lock:
            return len(self._buckets)

    def _maybe_sweep(self, now: dt.datetime) -> None:
        self._operations += 1
        if self._operations < self.sweep_every:
            return
        self._operations = 0
        for key in [k for k, b in self._buckets.items() if not b.events or b.events[-1] + b.window <= now]:
            del self._buckets[key]
