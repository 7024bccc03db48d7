"""The password lane: its own low-priority threads, bounded."""

from __future__ import annotations

import os
import sys
import threading

import anyio
import pytest

from webmagic_http.lanes import LOW_PRIORITY, PasswordLane


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are a Linux feature")
def test_lane_threads_run_at_the_lowest_priority() -> None:
    lane = PasswordLane(2)

    def niceness() -> tuple[int, str]:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), threading.current_thread().name

    nice, name = anyio.run(lane.run, niceness)
    lane.close()
    assert nice == LOW_PRIORITY
    assert name.startswith("password-lane")
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < LOW_PRIORITY


def test_lane_runs_at_most_size_calls_at_once() -> None:
    lane = PasswordLane(2)
    seen: list[int] = []
    gate = threading.Barrier(2, timeout=5)

    def work() -> None:
        gate.wait()
        seen.append(lane.busy)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(lane.run, work)

    anyio.run(main)
    lane.close()
    assert len(seen) == 4
    assert max(seen) <= 2
    assert lane.busy == 0
