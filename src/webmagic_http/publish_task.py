"""The in-process publishing worker: a background task of the app (``webmagic serve``)
when ``WEBMAGIC_PUBLISH_DIR`` is set.

A change committed by this process (a webhook's purchase, an approved edit...) rings the
database's publish doorbell, which wakes the task at once: the files are on disk a few
milliseconds after the commit. Changes committed by other processes (another instance, the
CLI) are found by polling every ``WEBMAGIC_PUBLISH_INTERVAL_SECONDS`` (a read of the
queue, no lock while it is empty). Several instances, or a separate ``webmagic outbox
relay``, may publish at the same time: the queue gives each site to one worker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from webmagic_core.commit_hooks import Doorbell
from webmagic_core.services.publishing import PublishReport
from webmagic_http.background import PeriodicTask, periodic_lifespan

log = logging.getLogger(__name__)


class Worker(Protocol):
    """What the task needs of ``PublishingWorker``."""

    @property
    def batch_size(self) -> int: ...

    def run_once(self) -> PublishReport: ...


class BackgroundPublisher(PeriodicTask[PublishReport]):
    what = "the publishing worker"

    def __init__(self, worker: Worker, interval: float) -> None:
        super().__init__(worker.run_once, interval, log)
        self.worker = worker

    def handle(self, report: PublishReport) -> bool:
        return report.handled >= self.worker.batch_size  # a full batch: more may be due now


def publish_lifespan(
    worker: Worker | None, doorbell: Doorbell, interval: float
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan hook running ``worker`` (None: publishing is off) in the
    background, woken by ``doorbell`` after each commit that asked for a publish."""
    if worker is None:

        @asynccontextmanager
        async def off(app: Any) -> AsyncIterator[None]:
            yield

        return off
    task: list[BackgroundPublisher] = []

    def start() -> BackgroundPublisher:
        background = BackgroundPublisher(worker, interval)
        task.append(background)
        return background

    inner = periodic_lifespan(
        start,
        interval,
        state_name="publisher",
        off_message="the in-process publishing worker is off (WEBMAGIC_PUBLISH_INTERVAL_SECONDS=0); "
        "run `webmagic outbox relay` where the published folder is",
    )

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with inner(app):
            forget = doorbell.listen(lambda: task[0].wake() if task else None)
            try:
                yield
            finally:
                forget()

    return lifespan
