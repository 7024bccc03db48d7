"""A periodic background task of the app: the outbox relay and the lifecycle sweep.

Every ``interval`` seconds the task runs a blocking job in a worker thread, and at once
again while ``handle`` asks for it. A failing round is logged and the loop carries on; on
shutdown the loop stops after the round in progress (a job is never cut off halfway).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar

import anyio.to_thread

Report = TypeVar("Report")


class PeriodicTask(Generic[Report]):
    """Runs ``job`` every ``interval`` seconds; subclasses say what a report means."""

    what = "the background task"  # for the log, e.g. "the outbox relay"

    def __init__(self, job: Callable[[], Report], interval: float, log: logging.Logger) -> None:
        if interval <= 0:
            raise ValueError(f"the interval of {self.what} must be positive")
        self.interval = interval
        self.rounds = 0
        self.failures = 0
        self._job = job
        self._log = log
        self._stop = asyncio.Event()
        self._poke = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            self._poke.clear()
            if await self._round():
                continue
            waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._poke.wait())]
            try:
                await asyncio.wait(waits, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()

    def stop(self) -> None:
        self._stop.set()

    def wake(self) -> None:
        """Run the next round now rather than at the end of the interval; callable from
        any thread (a commit in a worker thread rings it)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._poke.set)

    def handle(self, report: Report) -> bool:
        """Takes a round's report; True runs the next round at once (more is due now)."""
        return False

    async def _round(self) -> bool:
        try:
            # Not abandoned on cancellation: a round finishes what it started.
            report = await anyio.to_thread.run_sync(self._job)
        except Exception:
            self.failures += 1
            self._log.exception("%s failed; trying again in %s s", self.what, self.interval)
            return False
        finally:
            self.rounds += 1
        return self.handle(report)


def periodic_lifespan(
    start: Callable[[], PeriodicTask[Any]], interval: float, *, state_name: str, off_message: str
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan hook running the task made by ``start`` while the app is up,
    kept as ``app.state.<state_name>``; ``interval`` 0 runs nothing and logs ``off_message``."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if interval <= 0:
            logging.getLogger(__name__).info(off_message)
            yield
            return
        background = start()
        setattr(app.state, state_name, background)
        task = asyncio.create_task(background.run(), name=f"webmagic-{state_name.replace('_', '-')}")
        try:
            yield
        finally:
            background.stop()
            await task

    return lifespan
