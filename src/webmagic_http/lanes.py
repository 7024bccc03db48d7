"""A lane of worker threads for password hashing, apart from the shared thread pool.

bcrypt is slow on purpose and CPU-bound (it releases the GIL while it works). Calls that
hash run in worker threads, never on the event loop, and at most one per CPU at a time:
more would not hash faster, only make every login slower. A burst of logins therefore
queues here, and Litestar's shared thread pool stays free for the requests that only read
the database (hosting on PostgreSQL, ``/readyz``, the rest of the API).

The lane's threads are its own and run at the lowest CPU priority (nice 19, where the
platform allows it): hashing takes every spare cycle, but the event loop serving pages
gets a core as soon as it needs one, so a burst of logins does not stretch page latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


LOW_PRIORITY = 19


def _lower_priority() -> None:
    """Thread initializer: on Linux ``setpriority`` on a thread id affects that thread only."""
    # Not Linux, or not permitted: the lane runs at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY)


class PasswordLane:
    def __init__(self, size: int | None = None) -> None:
        self.size = size if size is not None else max(1, os.cpu_count() or 1)
        if self.size < 1:
            raise ValueError("a lane needs at least one thread")
        # Threads start on first use, not here.
        self._executor = ThreadPoolExecutor(
            max_workers=self.size, thread_name_prefix="password-lane", initializer=_lower_priority
        )
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        """Calls running right now."""
        return self._busy

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread of this lane; waits for a free one."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(self._call, functools.partial(fn, *args, **kwargs))
        )

    def _call(self, call: Callable[[], T]) -> T:
        with self._lock:
            self._busy += 1
        try:
            return call()
        finally:
            with self._lock:
                self._busy -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
