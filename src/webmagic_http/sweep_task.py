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

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from webmagic_core.services.sweep import SweepReport
from webmagic_http.background import PeriodicTask, periodic_lifespan

log = logging.getLogger(__name__)


class Sweep(Protocol):
    """What the task needs of ``LifecycleSweep``."""

    def run(self) -> SweepReport: ...


class BackgroundSweep(PeriodicTask[SweepReport]):
    what = "the lifecycle sweep"

    def __init__(self, sweep: Sweep, interval: float) -> None:
        super().__init__(sweep.run, interval, log)
        self.sweep = sweep
        self.last_report: SweepReport | None = None

    def handle(self, report: SweepReport) -> bool:
        self.last_report = report
        if report.errors:
            log.warning(
                "the lifecycle sweep could not handle %d item(s), retried next round: %s",
                len(report.errors),
                "; ".join(report.errors),
            )
        else:
            log.debug("lifecycle sweep round done: %s", report)
        return False


def sweep_lifespan(sweep: Sweep, interval: float) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan hook running ``sweep`` in the background while the app is up;
    ``interval`` 0 (``WEBMAGIC_SWEEP_INTERVAL_SECONDS=0``) runs nothing (then run
    ``webmagic lifecycle sweep`` periodically, from cron or a timer)."""
    return periodic_lifespan(
        lambda: BackgroundSweep(sweep, interval),
        interval,
        state_name="lifecycle_sweep",
        off_message="the in-process lifecycle sweep is off (WEBMAGIC_SWEEP_INTERVAL_SECONDS=0)",
    )
