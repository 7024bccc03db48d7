"""The in-process lifecycle sweep: a background task of an app that owns its container."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import attrs
import pytest
from background_support import Scripted, wait_until
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_adapters.settings import load_settings
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.services.sweep import SweepReport
from webmagic_core.sites import Actor, SiteContent
from webmagic_http.app import create_app
from webmagic_http.sweep_task import BackgroundSweep, sweep_lifespan


@attrs.define
class ScriptedSweep(Scripted[SweepReport]):
    idle: SweepReport = attrs.field(factory=SweepReport)

    def run(self) -> SweepReport:
        return self.play()


def run_until_done(sweep: ScriptedSweep, interval: float) -> BackgroundSweep:
    async def scenario() -> BackgroundSweep:
        background = BackgroundSweep(sweep, interval=interval)
        task = asyncio.create_task(background.run())
        await wait_until(sweep.done.is_set)
        background.stop()
        await asyncio.wait_for(task, timeout=5)
        return background

    return asyncio.run(scenario())


def test_a_failing_round_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    sweep = ScriptedSweep(script=[RuntimeError("database is down"), SweepReport(sites_suspended=1)])

    with caplog.at_level(logging.ERROR, logger="webmagic_http.sweep_task"):
        background = run_until_done(sweep, interval=0.01)

    assert background.failures == 1
    assert background.last_report == SweepReport()
    assert "the lifecycle sweep failed" in caplog.text


def test_items_the_sweep_could_not_handle_are_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    sweep = ScriptedSweep(script=[SweepReport(synced=2, errors=("site casa-rosa: the provider is down",))])

    with caplog.at_level(logging.WARNING, logger="webmagic_http.sweep_task"):
        background = run_until_done(sweep, interval=0.01)

    assert background.failures == 0
    assert "could not handle 1 item(s)" in caplog.text
    assert "site casa-rosa: the provider is down" in caplog.text


def test_the_first_round_runs_at_start_then_one_per_interval() -> None:
    sweep = ScriptedSweep(script=[SweepReport(), SweepReport()])

    async def scenario() -> None:
        background = BackgroundSweep(sweep, interval=60)
        task = asyncio.create_task(background.run())
        await wait_until(lambda: sweep.calls == 1)
        await asyncio.sleep(0.1)
        assert sweep.calls == 1  # the next one waits for the interval
        background.stop()
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())


def test_interval_zero_starts_nothing() -> None:
    sweep = ScriptedSweep()
    app = SimpleNamespace(state=SimpleNamespace())

    async def scenario() -> None:
        async with sweep_lifespan(sweep, 0)(app):
            await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert sweep.calls == 0
    assert not hasattr(app.state, "lifecycle_sweep")


def test_the_interval_setting() -> None:
    assert load_settings().sweep_interval_seconds == 300
    assert load_settings(sweep_interval_seconds=0).sweep_interval_seconds == 0


# --- wired into the app -------------------------------------------------------------------


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "env-data"
    monkeypatch.setenv("WEBMAGIC_DATA_DIR", str(data))
    monkeypatch.setenv("WEBMAGIC_OUTBOX_INTERVAL_SECONDS", "0")
    return data


def test_an_app_that_owns_its_container_sweeps_in_the_background(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBMAGIC_SWEEP_INTERVAL_SECONDS", "0.05")
    app = create_app()
    container: Container = app.state.container
    container.database.upgrade()
    # A site bought 40 days ago, never subscribed: its 30 days of included hosting are over.
    container.sites.create_preview("old-bakery", "Old Bakery", SiteContent(html="<h1>Old</h1>"))
    with container.database.unit_of_work() as uow:
        site = uow.sites.get_by_slug("old-bakery", for_update=True)
        assert site is not None
        bought = container.clock.now() - dt.timedelta(days=40)
        owner, _ = container.accounts.find_or_create_for_purchase(uow, "old@example.com", None, None, bought)
        site.sell(owner.id, cause="test: bought long ago", actor=Actor.SYSTEM, at=bought)
        uow.sites.save(site)
        uow.commit()

    with TestClient(app) as client:
        background: BackgroundSweep = app.state.lifecycle_sweep
        deadline = time.monotonic() + 10
        while background.rounds < 2:
            assert time.monotonic() < deadline, "the sweep did not run twice"
            time.sleep(0.02)
        assert container.sites.details("old-bakery").site.status is SiteStatus.SUSPENDED
        assert client.get("/old-bakery").status_code == 503
    assert background.failures == 0
    assert background.last_report == SweepReport()  # nothing left to do after the first round


def test_the_background_sweep_can_be_switched_off(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBMAGIC_SWEEP_INTERVAL_SECONDS", "0")
    app = create_app()
    app.state.container.database.upgrade()
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert not hasattr(app.state, "lifecycle_sweep")


def test_an_app_given_a_container_leaves_the_sweep_to_its_owner(
    make_container: Callable[..., Container],
) -> None:
    app = create_app(make_container(sweep_interval_seconds=0.01))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(0.05)
        assert not hasattr(app.state, "lifecycle_sweep")
