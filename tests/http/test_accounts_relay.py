"""The in-process outbox relay: a background task of an app that owns its container."""

from __future__ import annotations

import asyncio
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
from webmagic_core.outbox import OutboxStatus
from webmagic_core.services.outbox import RelayReport
from webmagic_http.app import create_app
from webmagic_http.outbox_task import BackgroundRelay, relay_lifespan

PASSWORD = "correct horse battery staple"


@attrs.define
class ScriptedRelay(Scripted[RelayReport]):
    idle: RelayReport = attrs.field(factory=RelayReport)
    batch_size: int = 10

    def run_once(self) -> RelayReport:
        return self.play()


def test_a_full_batch_is_followed_at_once_by_another_round(caplog: pytest.LogCaptureFixture) -> None:
    relay = ScriptedRelay(script=[RelayReport(sent=10), RuntimeError("database is down")])

    async def scenario() -> float:
        background = BackgroundRelay(relay, interval=60)
        started = time.monotonic()
        task = asyncio.create_task(background.run())
        await wait_until(lambda: relay.calls >= 2)
        await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
        background.stop()
        await asyncio.wait_for(task, timeout=5)
        return elapsed

    with caplog.at_level(logging.ERROR, logger="webmagic_http.outbox_task"):
        assert asyncio.run(scenario()) < 30  # no 60 s wait after the full batch
    assert relay.calls == 2  # after a failed round, the relay waits for the interval
    assert "the outbox relay failed" in caplog.text


def test_interval_zero_starts_nothing() -> None:
    relay = ScriptedRelay()
    app = SimpleNamespace(state=SimpleNamespace())

    async def scenario() -> None:
        async with relay_lifespan(relay, 0)(app):
            await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert relay.calls == 0
    assert not hasattr(app.state, "outbox_relay")


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


def test_the_apps_relay_sends_between_requests_not_during_them(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBMAGIC_OUTBOX_INTERVAL_SECONDS", "0.05")
    app = create_app()
    container: Container = app.state.container
    container.database.upgrade()
    mail = environment / "mail"

    with TestClient(app) as client:
        assert app.activity is not None
        app.activity.at_most = 30  # long enough that only the end of the request releases it
        app.activity.started()  # a request being answered (a slow upload, say)
        register(client, "ana@example.com")
        time.sleep(0.5)  # many relay intervals
        assert not list(mail.glob("*.eml"))  # claimed, waiting for the server to be idle
        app.activity.finished()
        deadline = time.monotonic() + 10
        while not list(mail.glob("*.eml")):
            assert time.monotonic() < deadline, "the relay did not send once the server was idle"
            time.sleep(0.02)
