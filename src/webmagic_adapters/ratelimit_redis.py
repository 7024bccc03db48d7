"""The Redis ``RateLimiter``: limits shared by every app instance that uses one Redis.

It gives the same answers as ``webmagic_core.ratelimit.InMemoryRateLimiter``: each key
holds a Redis list of the times of its counted events (integer microseconds, in arrival
order, like the in-memory deque), and one Lua script prunes the events that left the
window, counts and answers atomically, so concurrent hits never let more than ``limit``
through. The time comes from the limiter's ``Clock``, not from Redis ``TIME``: tests drive
it with a ``FakeClock``, and the contract suite holds both limiters to the same answers.

Keys live under ``webmagic:rl:``; each expires once its newest event has left the window
(plus some slack), so abandoned keys (a guessed email per request, say) free themselves.
Any Redis failure becomes a ``TransientError`` that names the server but never its password.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import attrs
import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from webmagic_adapters.settings import SettingsError
from webmagic_core.clock import SystemClock
from webmagic_core.errors import TransientError
from webmagic_core.ports import Clock

if TYPE_CHECKING:
    from redis.commands.core import Script

KEY_PREFIX = "webmagic:rl:"
# The TTL only frees memory (pruning by the caller's clock decides every answer), so it
# errs long: a clock a little behind Redis, or a slow caller, never loses a counted event.
EXPIRY_SLACK = dt.timedelta(seconds=60)
DEFAULT_TIMEOUT = 1.0

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s@]+@")

# KEYS[1]: the key. ARGV: now (µs), window (µs), limit, "1" to count the event or "0" to
# peek, TTL (ms). Returns nil when the event fits (counted when asked), else the µs until
# one more event fits (possibly <= 0 after the clock stepped back; the caller rounds).
# Times are pushed as the strings received: Lua's tostring would lose digits of a double.
_SCRIPT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
while true do
  local head = redis.call('LINDEX', key, 0)
  if not head or tonumber(head) + window > now then break end
  redis.call('LPOP', key)
end
local n = redis.call('LLEN', key)
if n < limit then
  if ARGV[4] == '1' then
    redis.call('RPUSH', key, ARGV[1])
    redis.call('PEXPIRE', key, ARGV[5])
  end
  return false
end
return tonumber(redis.call('LINDEX', key, n - limit)) + window - now
"""


def _check(limit: int, window: dt.timedelta) -> None:
    # The same refusals, in the same words, as the in-memory limiter.
    if limit < 1:
        raise ValueError(f"a rate limit must allow at least one event, not {limit}")
    if window <= dt.timedelta(0):
        raise ValueError(f"a rate-limit window must be positive, not {window}")


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
class RedisRateLimiter:
    """``RateLimiter`` on Redis. Thread-safe: the client keeps a pool of connections."""

    client: redis.Redis
    clock: Clock = attrs.field(factory=SystemClock)
    prefix: str = KEY_PREFIX
    server: str = attrs.field(default="Redis", kw_only=True)
    _script: Script = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Registering only computes the SHA; EVALSHA falls back to EVAL on first use.
        self._script = self.client.register_script(_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        prefix: str = KEY_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> RedisRateLimiter:
        """A limiter on the Redis at ``url`` (redis://, rediss:// or unix://). Connects lazily.

        ``timeout`` bounds connecting and each reply (seconds); a dropped connection is
        retried once, so an unreachable Redis fails a request quickly instead of stalling it.
        """
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1),
                health_check_interval=30,
            )
        except ValueError as error:
            # redis-py's messages name the part that is wrong, never the URL itself.
            raise SettingsError(f"WEBMAGIC_REDIS_URL: {error}") from None
        server = f"Redis at {_describe_server(url)}"
        return cls(client, clock or SystemClock(), prefix, server=server)

    def hit(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        return self._run(key, limit, window, count=True)

    def peek(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        return self._run(key, limit, window, count=False)

    def reset(self, key: str) -> None:
        try:
            self.client.delete(self.prefix + key)
        except redis.RedisError as error:
            raise self._unavailable(error) from None

    def close(self) -> None:
        self.client.close()

    def _run(self, key: str, limit: int, window: dt.timedelta, *, count: bool) -> int | None:
        _check(limit, window)
        now_us = (self.clock.now() - _EPOCH) // _MICROSECOND
        window_us = window // _MICROSECOND
        ttl_ms = -(-(window + EXPIRY_SLACK) // dt.timedelta(milliseconds=1))
        args: list[Any] = [now_us, window_us, limit, 1 if count else 0, ttl_ms]
        try:
            wait_us = cast("int | None", self._script(keys=[self.prefix + key], args=args))
        except redis.RedisError as error:
            raise self._unavailable(error) from None
        if wait_us is None:
            return None
        # As in memory: capped at the window (a clock stepped back must not block for
        # longer), whole seconds rounded up, at least one.
        wait_us = min(int(wait_us), window_us)
        return max(1, -(-wait_us // 1_000_000))

    def _unavailable(self, error: redis.RedisError) -> TransientError:
        reason = " ".join(_URL_CREDENTIALS.sub(r"\1***@", str(error)).split()) or type(error).__name__
        return TransientError(f"the rate-limit store ({self.server}) is unavailable: {reason}")
