"""The in-process outbox relay: a background task of an app that owns its container."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import attrs
import pytest
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_core.outbox import OutboxStatus
from webmagic_core.services.outbox import RelayReport
from webmagic_http.app import create_app
from webmagic_http.outbox_task import BackgroundRelay, relay_lifespan

PASSWORD = "correct horse battery staple"


@attrs.define
class ScriptedRelay:
    """Plays back a script of outcomes, one per ``run_once``, then reports nothing to do."""

    script: list[RelayReport | Exception] = attrs.field(factory=list)
    batch_size: int = 10
    calls: int = 0
    threads: set[str] = attrs.field(factory=set)
    delay: float = 0.0
    done: threading.Event = attrs.field(factory=threading.Event)

    def run_once(self) -> RelayReport:
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
        return RelayReport()


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_failing_round_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    relay = ScriptedRelay([RuntimeError("database is down"), RelayReport(sent=1)])

    async def scenario() -> BackgroundRelay:
        background = BackgroundRelay(relay, interval=0.01)
        task = asyncio.create_task(background.run())
        await wait_until(relay.done.is_set)
        background.stop()
        await asyncio.wait_for(task, timeout=5)
        return background

    with caplog.at_level(logging.ERROR, logger="webmagic_http.outbox_task"):
        background = asyncio.run(scenario())

    assert background.failures == 1
    assert relay.calls >= 3
    assert "the outbox relay failed" in caplog.text
    assert "database is down" in caplog.text
    assert threading.main_thread().name not in relay.threads  # off the event loop


def test_a_full_batch_is_followed_at_once_by_another_round() -> None:
    relay = ScriptedRelay([RelayReport(sent=10), RelayReport(sent=10), RelayReport(sent=3)])

    async def scenario() -> float:
        background = BackgroundRelay(relay, interval=60)
        started = time.monotonic()
        task = asyncio.create_task(background.run())
        await wait_until(lambda: relay.calls >= 3)
        elapsed = time.monotonic() - started
        background.stop()
        await asyncio.wait_for(task, timeout=5)
        return elapsed

    assert asyncio.run(scenario()) < 30  # three rounds without waiting the 60 s interval
    assert relay.calls == 3


def test_stopping_waits_for_the_round_in_progress() -> None:
    relay = ScriptedRelay([RelayReport(sent=1)], delay=0.2)

    async def scenario() -> None:
        background = BackgroundRelay(relay, interval=60)
        task = asyncio.create_task(background.run())
        await wait_until(lambda: relay.calls == 1)
        background.stop()
        await asyncio.wait_for(task, timeout=5)
        assert background.rounds == 1  # the round finished; no new one started

    asyncio.run(scenario())
    assert relay.calls == 1


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        BackgroundRelay(ScriptedRelay(), interval=0)


def test_interval_zero_starts_nothing() -> None:
    relay = ScriptedRelay()
    app = SimpleNamespace(state=SimpleNamespace())

    async def scenario() -> None:
        async with relay_lifespan(relay, 0)(app):
            await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert relay.calls == 0


# --- wired into the app -------------------------------------------------------------------


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "env-data"
    monkeypatch.setenv("WEBMAGIC_DATA_DIR", str(data))
    monkeypatch.setenv("WEBMAGIC_BCRYPT_ROUNDS", "4")
    return data


def register(client: TestClient, email: str) -> None:  # type: ignore[type-arg]
    response = client.post("/api/v1/customer/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 202


def test_an_app_that_owns_its_container_sends_queued_mail_in_the_background(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBMAGIC_OUTBOX_INTERVAL_SECONDS", "0.05")
    order: list[str] = []
    original_close = Container.close

    def recording_close(self: Container) -> None:
        order.append("container closed")
        original_close(self)

    monkeypatch.setattr(Container, "close", recording_close)
    app = create_app()
    container: Container = app.state.container
    container.database.upgrade()

    with TestClient(app) as client:
        background: BackgroundRelay = app.state.outbox_relay
        register(client, "ana@example.com")
        deadline = time.monotonic() + 10
        while not list((environment / "mail").glob("*.eml")):
            assert time.monotonic() < deadline, "the relay did not send the verification mail"
            time.sleep(0.02)
        assert b"/portal/verify-email?token=" in next((environment / "mail").glob("*.eml")).read_bytes()
        assert background.rounds >= 1
        order.append("app running")
    # Stopped cleanly before the container closed, and not failing meanwhile.
    assert order == ["app running", "container closed"]
    assert background.failures == 0


def test_the_background_relay_can_be_switched_off(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBMAGIC_OUTBOX_INTERVAL_SECONDS", "0")
    app = create_app()
    container: Container = app.state.container
    container.database.upgrade()

    with TestClient(app) as client:
        register(client, "ana@example.com")
        assert not hasattr(app.state, "outbox_relay")
    assert container.relay.counts()[OutboxStatus.PENDING] == 1


def test_an_app_given_a_container_leaves_the_relay_to_its_owner(
    tmp_path: Path, make_container: Callable[..., Container]
) -> None:
    container = make_container(outbox_interval_seconds=0.01, bcrypt_rounds=4)
    app = create_app(container)

    with TestClient(app) as client:
        register(client, "ana@example.com")
        time.sleep(0.1)
        assert not hasattr(app.state, "outbox_relay")
    assert container.relay.counts()[OutboxStatus.PENDING] == 1
