"""Work done after the answer is sent, so its length tells the caller nothing.

``forgot-password`` and ``resend-verification`` answer the same for every address; if they
also did their work (look up the account, sign a link, render and queue a mail) before
answering, the time of the answer would tell a known address from an unknown one. The
input is checked first (a malformed address is still a 400), then the answer goes out and
the work runs, in a worker thread, once it has been sent. A failure is logged: the caller
has had its answer, and asking again is always safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec

from litestar.background_tasks import BackgroundTask

P = ParamSpec("P")

log = logging.getLogger(__name__)


def after_answer(fn: Callable[P, None], /, *args: P.args, **kwargs: P.kwargs) -> BackgroundTask:
    name = getattr(fn, "__name__", "the deferred work")

    def run() -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("%s failed after its answer was sent", name)

    return BackgroundTask(run)
