"""What every ``RateLimiter`` (the port is in ``webmagic_core.ports``) refuses alike.

The production limiters are adapters on the ``limits`` package
(``webmagic_adapters.ratelimit``: in memory, or shared through Redis); the core's tests use
``webmagic_core.testing.FakeRateLimiter``. The contract suite holds all of them to the same
answers.
"""

from __future__ import annotations

import datetime as dt


def check_limit(limit: int, window: dt.timedelta) -> None:
    if limit < 1:
        raise ValueError(f"a rate limit must allow at least one event, not {limit}")
    if window <= dt.timedelta(0):
        raise ValueError(f"a rate-limit window must be positive, not {window}")
