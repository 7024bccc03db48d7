"""Playback jobs for the app's periodic background tasks (``webmagic_http.background``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import attrs

Report = TypeVar("Report")


@attrs.define
class Scripted(Generic[Report]):
    """Plays back a script of outcomes, one per call of ``play``, then returns ``idle``."""

    idle: Report
    script: list[Report | Exception] = attrs.field(factory=list)
    calls: int = 0
    threads: set[str] = attrs.field(factory=set)
    delay: float = 0.0
    done: threading.Event = attrs.field(factory=threading.Event)

    def play(self) -> Report:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.script:
            outcome = self.script.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        self.done.set()
        return self.idle


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
