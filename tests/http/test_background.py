"""The periodic background task the outbox relay and the lifecycle sweep are made of."""

from __future__ import annotations

import asyncio
import logging
import threading
from types import SimpleNamespace

import pytest
from background_support import Scripted, wait_until

from webmagic_http.background import PeriodicTask, periodic_lifespan

log = logging.getLogger("tests.background")


class Job(PeriodicTask[str]):
    what = "the test job"

    def __init__(self, job: Scripted[str], interval: float) -> None:
        super().__init__(job.play, interval, log)
        self.reports: list[str] = []

    def handle(self, report: str) -> bool:
        self.reports.append(report)
        return report == "more"


def test_a_failing_round_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    job = Scripted("idle", [RuntimeError("database is down"), "one"])

    async def scenario() -> Job:
        background = Job(job, interval=0.01)
        task = asyncio.create_task(background.run())
        await wait_until(job.done.is_set)
        background.stop()
        await asyncio.wait_for(task, timeout=5)
        return background

    with caplog.at_level(logging.ERROR, logger=log.name):
        background = asyncio.run(scenario())

    assert background.failures == 1
    assert job.calls >= 3
    assert background.reports[:2] == ["one", "idle"]
    assert "the test job failed; trying again in 0.01 s" in caplog.text
    assert "database is down" in caplog.text
    assert threading.main_thread().name not in job.threads  # off the event loop


def test_a_round_that_asks_for_more_is_followed_at_once_by_another() -> None:
    job = Scripted("idle", ["more", "more", "one"])

    async def scenario() -> None:
        background = Job(job, interval=60)
        task = asyncio.create_task(background.run())
        await wait_until(lambda: job.calls >= 3)  # within 5 s: no 60 s wait in between
        await asyncio.sleep(0.1)
        assert job.calls == 3  # "one" asked for nothing more: the next round waits
        background.stop()
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())


def test_stopping_waits_for_the_round_in_progress() -> None:
    job = Scripted("idle", ["one"], delay=0.2)

    async def scenario() -> None:
        background = Job(job, interval=60)
        task = asyncio.create_task(background.run())
        await wait_until(lambda: job.calls == 1)
        background.stop()
        await asyncio.wait_for(task, timeout=5)
        assert (background.rounds, background.reports) == (1, ["one"])  # finished; no new one

    asyncio.run(scenario())
    assert job.calls == 1


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="the interval of the test job must be positive"):
        Job(Scripted("idle"), interval=0)


def test_the_lifespan_runs_the_task_while_the_app_is_up() -> None:
    job = Scripted("idle")
    app = SimpleNamespace(state=SimpleNamespace())

    async def scenario() -> None:
        async with periodic_lifespan(lambda: Job(job, 60), 60, state_name="test_job", off_message="off")(app):
            await wait_until(job.done.is_set)
            assert isinstance(app.state.test_job, Job)

    asyncio.run(scenario())
    assert job.calls == 1


def test_interval_zero_starts_nothing(caplog: pytest.LogCaptureFixture) -> None:
    job = Scripted("idle")
    app = SimpleNamespace(state=SimpleNamespace())

    async def scenario() -> None:
        async with periodic_lifespan(
            lambda: Job(job, 0), 0, state_name="test_job", off_message="the job is off"
        )(app):
            await asyncio.sleep(0.05)

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    assert job.calls == 0
    assert not hasattr(app.state, "test_job")
    assert "the job is off" in caplog.text
