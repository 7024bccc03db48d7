"""Security: throttling, password hashing, signed tokens."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from webmagic_core.accounts.ports import PasswordHasher, TokenSigner

__all__ = ["PasswordHasher", "RateLimiter", "TokenSigner"]


class RateLimiter(Protocol):
    """Counts events per key in a moving window (in memory, or Redis when shared).

    At most ``limit`` events are counted in any ``window``; an event refused by ``hit`` is
    not counted, so a client that keeps knocking is let in again when the window allows,
    exactly ``retry_after`` seconds later. Implementations: ``webmagic_adapters.ratelimit``
    (the ``limits`` package, in memory by default or on Redis) and the core's fake;
    tests/contract/test_rate_limiter_contract.py pins the behaviour down.
    """

    def hit(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        """Count one event: None when it fits within ``limit`` (and is counted), else the
        whole seconds (at least 1) until one more event would fit (and nothing is counted)."""
        ...

    def peek(self, key: str, *, limit: int, window: dt.timedelta) -> int | None:
        """What ``hit`` would answer right now, without counting anything."""
        ...

    def reset(self, key: str) -> None:
        """Forget every event of ``key``."""
        ...
