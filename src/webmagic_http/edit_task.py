"""The in-process edit worker: a background task of the app (``webmagic serve``).

Every ``WEBMAGIC_EDIT_WORKER_INTERVAL_SECONDS`` (default 5; 0 turns it off) it drafts
the oldest claimable pending edit with the configured engine in a worker thread, and at
once the next one while there are more. Other app processes and ``webmagic edits work``
may draft at the same time: each pending edit is claimed by one of them. With the manual
engine nothing is drafted here (operators draft at the CLI).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from webmagic_core.services.edits import EditService, WorkOutcome
from webmagic_http.background import PeriodicTask, periodic_lifespan

log = logging.getLogger(__name__)


class BackgroundEditWorker(PeriodicTask[WorkOutcome | None]):
    what = "the edit worker"

    def __init__(self, edits: EditService, interval: float) -> None:
        super().__init__(edits.work_once, interval, log)
        self.drafted = 0

    def handle(self, report: WorkOutcome | None) -> bool:
        if report is None:
            return False
        self.drafted += 1
        return True  # there may be more pending


def edit_worker_lifespan(
    edits: EditService, interval: float
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    return periodic_lifespan(
        lambda: BackgroundEditWorker(edits, interval),
        interval if edits.engine.automatic else 0,
        state_name="edit_worker",
        off_message="the in-process edit worker is off "
        "(manual engine, or WEBMAGIC_EDIT_WORKER_INTERVAL_SECONDS=0)",
    )
