"""The in-process lifecycle sweep: a background task of the app (``webmagic serve``).

At start-up and then every ``interval`` seconds (``WEBMAGIC_SWEEP_INTERVAL_SECONDS``,
default 300; 0 turns it off) it runs ``LifecycleSweep.run`` in a worker thread (database
and payment-provider calls, all blocking): included hosting running out, cancelled
subscriptions reaching the end of their paid time, missed webhooks, stale checkouts. A
round that fails is logged and the loop carries on; items the sweep could not handle are
in its report and logged as a warning. On shutdown the loop stops after the round in
progress. Several app processes, or ``webmagic lifecycle sweep`` run by cron, may sweep at
the same time: every step locks what it changes and acts only if it still holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any, Protocol

import anyio.to_thread

from webmagic_core.services.sweep import SweepReport

log = logging.getLogger(__name__)


class Sweep(Protocol):
    """What the task needs of ``LifecycleSweep``."""

    def run(self) -> SweepReport: ...


class BackgroundSweep:
    def __init__(self, sweep: Sweep, interval: float) -> None:
        if interval <= 0:
            raise ValueError("the sweep interval must be positive")
        self.sweep = sweep
        self.interval = interval
        self.rounds = 0
        self.failures = 0
        self.last_report: SweepReport | None = None
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            await self._round()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)

    def stop(self) -> None:
        self._stop.set()

    async def _round(self) -> None:
        try:
            # Not abandoned on cancellation: a round finishes the site it is on.
            report = await anyio.to_thread.run_sync(self.sweep.run)
        except Exception:
            self.failures += 1
            log.exception("the lifecycle sweep failed; trying again in %s s", self.interval)
            return
        finally:
            self.rounds += 1
        self.last_report = report
        if report.errors:
            log.warning(
                "the lifecycle sweep could not handle %d item(s), retried next round: %s",
                len(report.errors),
                "; ".join(report.errors),
            )
        else:
            log.debug("lifecycle sweep round done: %s", report)


def sweep_lifespan(sweep: Sweep, interval: float) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan hook running ``sweep`` in the background while the app is up;
    ``interval`` 0 (``WEBMAGIC_SWEEP_INTERVAL_SECONDS=0``) runs nothing (then run
    ``webmagic lifecycle sweep`` periodically, from cron or a timer)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if interval <= 0:
            log.info("the in-process lifecycle sweep is off (WEBMAGIC_SWEEP_INTERVAL_SECONDS=0)")
            yield
            return
        background = BackgroundSweep(sweep, interval)
        app.state.lifecycle_sweep = background
        task = asyncio.create_task(background.run(), name="webmagic-lifecycle-sweep")
        try:
            yield
        finally:
            background.stop()
            await task

    return lifespan
