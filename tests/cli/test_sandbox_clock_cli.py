"""``webmagic sandbox clock advance|show|reset``: the stored sandbox offset, seen by every
process on the database, refused with real payments, and moving the lifecycle forward."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import Result

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.payments.sandbox_delivery import deliver_in_process
from webmagic_adapters.sandbox_clock import (
    DurationError,
    SandboxClock,
    SandboxClockStore,
    describe_offset,
    parse_duration,
)
from webmagic_adapters.settings import load_settings
from webmagic_core.clock import SystemClock
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.sites import SiteContent
from webmagic_core.testing import FakeClock

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]
DAY = dt.timedelta(days=1)
BUYER = "rosa@example.com"


def clock_json(invoke: Invoke, *args: str) -> Any:
    result = invoke("sandbox", "clock", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def real_payments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBMAGIC_PAYMENTS", "recurrente")
    monkeypatch.setenv("WEBMAGIC_RECURRENTE_PUBLIC_KEY", "pk_test_x")
    monkeypatch.setenv("WEBMAGIC_RECURRENTE_SECRET_KEY", "sk_test_x")
    monkeypatch.setenv("WEBMAGIC_RECURRENTE_WEBHOOK_SECRET", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0")


def test_advance_adds_up_show_tells_and_reset_goes_back(invoke: Invoke, migrated: None) -> None:
    assert clock_json(invoke, "show")["offset_seconds"] == 0
    before = dt.datetime.now(dt.UTC)

    moved = clock_json(invoke, "advance", "25d")
    assert moved["offset_seconds"] == 25 * 86400
    assert moved["offset"] == "25d"
    effective = dt.datetime.fromisoformat(moved["effective_time"])
    assert before + 25 * DAY <= effective <= dt.datetime.now(dt.UTC) + 25 * DAY

    assert clock_json(invoke, "advance", "12h")["offset"] == "25d 12h"
    assert clock_json(invoke, "advance", "90m")["offset"] == "25d 13h 30m"
    table = invoke("sandbox", "clock", "show")
    assert table.exit_code == 0, table.output
    assert "Effective time" in table.stdout
    assert "25d 13h 30m" in table.stdout
    assert (
        f"{(dt.datetime.now(dt.UTC) + dt.timedelta(days=25, hours=13, minutes=30)):%Y-%m-%d}" in table.stdout
    )

    assert clock_json(invoke, "reset")["offset_seconds"] == 0
    assert "no (real time)" in invoke("sandbox", "clock", "show").stdout


@pytest.mark.parametrize(
    ("duration", "problem"),
    [
        ("-1d", "not a duration"),
        ("25", "not a duration"),
        ("soon", "not a duration"),
        ("3x", "not a duration"),
        ("0d", "only moves forward"),
    ],
)
def test_only_forward_and_only_durations(
    invoke: Invoke, migrated: None, error_line: ErrorLine, duration: str, problem: str
) -> None:
    result = invoke("sandbox", "clock", "advance", "--", duration)
    assert result.exit_code == 2, result.output
    assert problem in error_line(result)
    assert clock_json(invoke, "show")["offset_seconds"] == 0


@pytest.mark.parametrize("command", [("advance", "1d"), ("show",), ("reset",)])
def test_refused_with_real_payments(
    invoke: Invoke,
    migrated: None,
    error_line: ErrorLine,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
) -> None:
    real_payments(monkeypatch)
    result = invoke("sandbox", "clock", *command)
    assert result.exit_code == 2, result.output
    assert "the sandbox clock only works with sandbox payments" in error_line(result)
    assert "sk_test_x" not in result.output


def test_needs_a_migrated_database(invoke: Invoke, error_line: ErrorLine) -> None:
    result = invoke("sandbox", "clock", "show")
    assert result.exit_code == 2, result.output
    assert "db upgrade" in error_line(result)


def test_another_process_sees_the_advanced_clock(
    invoke: Invoke, migrated: None, cli_env: dict[str, str]
) -> None:
    clock_json(invoke, "advance", "3d")
    program = (
        "from webmagic_adapters.bootstrap import bootstrap\n"
        "container = bootstrap()\n"
        "print(container.clock.now().isoformat())\n"
        "container.close()\n"
    )
    env = {**os.environ, **cli_env}
    before = dt.datetime.now(dt.UTC)
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    seen = dt.datetime.fromisoformat(done.stdout.strip())
    assert before + 3 * DAY <= seen <= dt.datetime.now(dt.UTC) + 3 * DAY


def test_a_running_process_sees_an_advance_within_its_refresh(migrated: None) -> None:
    container = bootstrap(load_settings())
    try:
        assert isinstance(container.clock, SandboxClock)
        ticks = [100.0]
        clock = SandboxClock(
            FakeClock(), SandboxClockStore(container.database.engine), monotonic=lambda: ticks[0]
        )
        start = clock.now()
        SandboxClockStore(container.database.engine).advance(2 * DAY, now=start)  # another process
        ticks[0] += 0.5
        assert clock.now() == start  # read at most once a second
        ticks[0] += 0.5
        assert clock.now() == start + 2 * DAY
    finally:
        container.close()


def test_real_payments_ignore_a_stored_offset(migrated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = bootstrap(load_settings())
    try:
        SandboxClockStore(sandbox.database.engine).advance(40 * DAY, now=SystemClock().now())
    finally:
        sandbox.close()
    real_payments(monkeypatch)
    real = bootstrap(load_settings())
    try:
        assert not isinstance(real.clock, SandboxClock)
        assert abs(real.clock.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    finally:
        real.close()


def test_moving_the_clock_brings_the_included_hosting_reminder_then_the_suspension(
    invoke: Invoke, migrated: None
) -> None:
    # Production wiring throughout: the system clock moved by the stored offset, the sandbox gateway.
    container = bootstrap(load_settings())
    try:
        sandbox = container.sandbox
        assert sandbox is not None
        container.sites.create_preview("casa-rosa", "Casa Rosa", SiteContent(html="<h1>Casa Rosa</h1>"))
        started = container.purchases.start("casa-rosa", BUYER, "Rosa Díaz")
        deliver_in_process(
            sandbox.pay_all(started.checkout_id, customer_email=BUYER), container.verifier, container.webhooks
        )
        assert container.sites.details("casa-rosa").site.status is SiteStatus.OWNED  # 30 days included
    finally:
        container.close()

    def sweep() -> Any:
        return clock_json_of(invoke("lifecycle", "sweep", "--json"))

    assert sweep()["reminders_sent"] == 0
    clock_json(invoke, "advance", "23d12h")  # 6.5 days left
    assert sweep()["reminders_sent"] == 1
    assert status(invoke) == "owned"

    clock_json(invoke, "advance", "7d")  # 30.5 days after the purchase
    report = sweep()
    assert (report["hosting_expired"], report["sites_suspended"]) == (1, 1)
    assert status(invoke) == "suspended"


def clock_json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def status(invoke: Invoke) -> str:
    shown = clock_json_of(invoke("sites", "show", "casa-rosa", "--json"))
    return str(shown["status"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25d", 25 * DAY),
        ("12h", dt.timedelta(hours=12)),
        ("90m", dt.timedelta(minutes=90)),
        ("2w", 14 * DAY),
        ("1d12h", dt.timedelta(days=1, hours=12)),
        (" 1D 30M ", dt.timedelta(days=1, minutes=30)),
    ],
)
def test_durations(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


def test_offsets_read_as_days_hours_minutes() -> None:
    assert describe_offset(dt.timedelta(0)) == "0m"
    assert describe_offset(dt.timedelta(days=31, minutes=5)) == "31d 5m"


def test_the_store_itself_refuses_to_move_back(migrated: None) -> None:
    container = bootstrap(load_settings())
    try:
        store = SandboxClockStore(container.database.engine)
        store.advance(DAY, now=SystemClock().now())
        for backwards in (-DAY, dt.timedelta(0)):
            with pytest.raises(DurationError, match="only moves forward"):
                store.advance(backwards, now=SystemClock().now())
        assert store.offset() == DAY
    finally:
        container.close()
