"""A lane of worker threads for password hashing, apart from the shared thread pool.

bcrypt is slow on purpose and CPU-bound (it releases the GIL while it works). Calls that
hash run in worker threads, never on the event loop, and at most one per CPU at a time:
more would not hash faster, only make every login slower. A burst of logins therefore
queues here, and Litestar's shared thread pool stays free for the requests that only read
the database (hosting on PostgreSQL, ``/readyz``, the rest of the API).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")


class PasswordLane:
    def __init__(self, size: int | None = None) -> None:
        self.size = size if size is not None else max(1, os.cpu_count() or 1)
        if self.size < 1:
            raise ValueError("a lane needs at least one thread")
        # anyio binds the limiter to the running event loop on first use, not here.
        self._limiter = anyio.CapacityLimiter(self.size)

    @property
    def busy(self) -> int:
        """Calls running right now."""
        return int(self._limiter.borrowed_tokens)

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread of this lane; waits for a free one."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self._limiter)
