"""``webmagic outbox list|retry|relay`` through CliRunner, on a SQLite file per test, and the
relay worker once as the installed console script stopped by SIGTERM."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_cli.outbox import relay_loop
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import TransientError
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.services.outbox import OutboxRelay, RelayReport, queue_email
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]
Queue = Callable[..., OutboxMessage]

SECRET_LINK = "https://app.example.com/reset?token=very-secret-token"


@pytest.fixture
def container(migrated: None) -> Iterator[Container]:
    """The services on the test's database, to queue mail and check what commands did."""
    container = bootstrap(load_settings())
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
def queue(container: Container) -> Queue:
    """Queue a password-reset mail (its body holds ``SECRET_LINK``), one second apart."""
    clock = FakeClock(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))

    def add(to: str = "ana@example.com") -> OutboxMessage:
        with container.database.unit_of_work() as uow:
            item = queue_email(
                uow, EmailTemplate.PASSWORD_RESET, to, {"reset_url": SECRET_LINK},
                clock.advance(dt.timedelta(seconds=1)),
            )  # fmt: skip
            uow.commit()
        return item

    return add


def relay_with(container: Container, mailer: FakeMailer) -> OutboxRelay:
    return OutboxRelay(
        uow=container.database.unit_of_work, mailer=mailer, clock=container.clock, renderer=container.renderer
    )


@pytest.fixture
def kill(container: Container) -> Callable[[OutboxMessage], None]:
    """Make a queued message dead: its only attempt fails for good (it must be the only
    one due, as the relay takes the oldest first)."""

    def run(item: OutboxMessage) -> None:
        mailer = FakeMailer()
        mailer.fail_next(transient=False)
        relay = relay_with(container, mailer)
        relay.batch_size = 1
        assert relay.run_once() == RelayReport(dead=1)
        assert relay.get(item.id).status is OutboxStatus.DEAD

    return run


def listed(invoke: Invoke, *args: str) -> list[dict[str, Any]]:
    result = invoke("outbox", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def mail_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "data" / "mail"
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []


# --- list ---------------------------------------------------------------------------------------


def test_list_on_an_empty_outbox(invoke: Invoke, container: Container) -> None:
    result = invoke("outbox", "list")
    assert result.exit_code == 0, result.output
    assert "The outbox is empty." in result.stdout
    assert listed(invoke) == []


def test_list_shows_every_column_but_never_the_body(
    invoke: Invoke, container: Container, queue: Queue, kill: Callable[[OutboxMessage], None]
) -> None:
    dead = queue("bo@example.com")
    kill(dead)
    pending = queue("ana@example.com")

    result = invoke("outbox", "list")

    assert result.exit_code == 0, result.output
    header = [cell.strip() for cell in result.stdout.splitlines()[0].split("┃")]
    assert header == ["ID", "To", "Subject", "Template", "Status", "Attempts", "Next attempt", "Last error"]
    rows = {
        line.split()[0]: line
        for line in result.stdout.splitlines()
        if line[:8] in (str(pending.id)[:8], str(dead.id)[:8])
    }
    # Short ids (8 characters) in the table; `--json` has them whole.
    assert set(rows) == {pending.id.hex[:8], dead.id.hex[:8]}
    assert "ana@example.com" in rows[pending.id.hex[:8]]
    assert "pending" in rows[pending.id.hex[:8]]
    assert "password_reset" in rows[pending.id.hex[:8]]
    # Not sent yet, so not rendered yet: no subject (the template says what it is).
    assert "(rendered" in rows[pending.id.hex[:8]]
    assert "UTC" in rows[pending.id.hex[:8]]  # when it is due
    assert "dead" in rows[dead.id.hex[:8]]
    assert "fake permanent failure sending to bo@example.com" in rows[dead.id.hex[:8]]
    assert "1 pending, 0 sent, 1 dead" in result.stdout
    assert "very-secret-token" not in result.output
    assert "reset?token" not in result.output


def test_list_json_has_the_documented_keys_newest_first(
    invoke: Invoke, queue: Queue, kill: Callable[[OutboxMessage], None]
) -> None:
    first = queue("ana@example.com")
    kill(first)
    second = queue("bo@example.com")

    data = listed(invoke)

    assert [row["id"] for row in data] == [str(second.id), str(first.id)]
    assert set(data[0]) == {
        "id", "to", "subject", "template", "status", "attempts", "created_at",
        "next_attempt_at", "sent_at", "last_error", "site_id",
    }  # fmt: skip
    newest, oldest = data
    assert (newest["status"], newest["attempts"], newest["last_error"]) == ("pending", 0, None)
    assert dt.datetime.fromisoformat(newest["next_attempt_at"]).utcoffset() == dt.timedelta(0)
    assert (oldest["status"], oldest["attempts"], oldest["next_attempt_at"]) == ("dead", 1, None)
    assert oldest["template"] == "password_reset"
    assert oldest["to"] == "ana@example.com"
    assert newest["subject"] is None  # rendered when sent
    assert "very-secret-token" not in json.dumps(data)


def test_a_sent_message_lists_the_subject_it_was_sent_with(
    invoke: Invoke, container: Container, queue: Queue
) -> None:
    item = queue("ana@example.com")
    mailer = FakeMailer()
    assert relay_with(container, mailer).drain().sent == 1
    [sent] = mailer.sent
    assert sent.subject == "Reset your WebMagic password"
    assert SECRET_LINK in sent.text  # rendered from the queued data when sent

    [row] = listed(invoke)
    assert (row["id"], row["status"], row["subject"]) == (str(item.id), "sent", sent.subject)
    assert "very-secret-token" not in json.dumps(row)


def test_list_filters_by_status_and_limits(
    invoke: Invoke, queue: Queue, kill: Callable[[OutboxMessage], None]
) -> None:
    items = [queue("user0@example.com")]
    kill(items[0])
    items += [queue(f"user{n}@example.com") for n in range(1, 4)]

    assert [row["id"] for row in listed(invoke, "--dead")] == [str(items[0].id)]
    assert [row["id"] for row in listed(invoke, "--status", "PENDING")] == [str(i.id) for i in items[:0:-1]]
    assert listed(invoke, "--status", "sent") == []
    assert [row["id"] for row in listed(invoke, "--limit", "2")] == [str(items[3].id), str(items[2].id)]

    table = invoke("outbox", "list", "--status", "pending", "-n", "1")
    assert table.exit_code == 0, table.output
    assert "1 of 3 (newest first)" in table.stdout
    none = invoke("outbox", "list", "--status", "sent")
    assert "No sent messages." in none.stdout


def test_list_refuses_contradicting_filters(
    invoke: Invoke, container: Container, error_line: ErrorLine
) -> None:
    result = invoke("outbox", "list", "--dead", "--status", "sent")
    assert result.exit_code == 2
    assert "--dead and --status sent contradict each other" in error_line(result)
    assert invoke("outbox", "list", "--dead", "--status", "dead").exit_code == 0
    assert invoke("outbox", "list", "--limit", "0").exit_code == 2


def test_commands_need_a_migrated_database(invoke: Invoke, error_line: ErrorLine) -> None:
    for args in (("list",), ("retry", str(uuid.uuid4())), ("relay", "--once")):
        result = invoke("outbox", *args)
        assert result.exit_code == 2, result.output
        assert "`webmagic db upgrade --create`" in error_line(result)


# --- retry --------------------------------------------------------------------------------------


def test_retry_requeues_a_dead_message_which_the_relay_then_sends(
    invoke: Invoke,
    container: Container,
    queue: Queue,
    kill: Callable[[OutboxMessage], None],
    tmp_path: Path,
) -> None:
    item = queue()
    kill(item)

    result = invoke("outbox", "retry", f" {item.id} ")

    assert result.exit_code == 0, result.output
    assert f"Requeued {item.id} to ana@example.com" in result.stdout
    requeued = container.relay.get(item.id)
    assert (requeued.status, requeued.attempts) == (OutboxStatus.PENDING, 0)
    assert requeued.next_attempt_at <= dt.datetime.now(dt.UTC)

    sent = invoke("outbox", "relay", "--once")
    assert sent.exit_code == 0, sent.output
    assert "sent 1, to retry 0, dead 0" in sent.stdout
    assert [path.name for path in mail_files(tmp_path)] == [f"{item.id}.eml"]
    assert container.relay.get(item.id).status is OutboxStatus.SENT


def test_retry_all_dead_requeues_every_dead_message(
    invoke: Invoke,
    container: Container,
    queue: Queue,
    kill: Callable[[OutboxMessage], None],
    error_line: ErrorLine,
) -> None:
    dead = [queue(), queue()]
    for item in dead:
        kill(item)
    alive = queue()

    result = invoke("outbox", "retry", "--all-dead")

    assert result.exit_code == 0, result.output
    assert "Requeued 2 dead message(s)" in result.stdout
    assert {container.relay.get(i.id).status for i in dead} == {OutboxStatus.PENDING}
    assert container.relay.get(alive.id).attempts == 0
    both = invoke("outbox", "retry", str(alive.id), "--all-dead")
    assert both.exit_code != 0
    assert "either a message ID or --all-dead" in error_line(both)


def test_retry_explains_what_it_cannot_do(
    invoke: Invoke, container: Container, queue: Queue, error_line: ErrorLine
) -> None:
    pending = queue()
    unknown = uuid.uuid4()

    missing = invoke("outbox", "retry", str(unknown))
    assert missing.exit_code == 1
    assert error_line(missing) == f"Error: no outbox message has the id {unknown}"

    not_dead = invoke("outbox", "retry", str(pending.id))
    assert not_dead.exit_code == 1
    assert "is pending; only dead messages can be retried" in error_line(not_dead)
    assert container.relay.get(pending.id).attempts == 0

    garbage = invoke("outbox", "retry", "xyz-12")
    assert garbage.exit_code == 2
    assert "'xyz-12' is not a message id" in error_line(garbage)
    unknown = invoke("outbox", "retry", "12345")
    assert unknown.exit_code == 2
    assert "no message id starts with '12345'" in error_line(unknown)


# --- relay --------------------------------------------------------------------------------------


def test_relay_once_drains_the_queue_into_the_mail_folder(
    invoke: Invoke, container: Container, queue: Queue, tmp_path: Path
) -> None:
    items = [queue(f"user{n}@example.com") for n in range(3)]

    result = invoke("outbox", "relay", "--once")

    assert result.exit_code == 0, result.output
    assert "Mail is written as .eml files to" in result.stdout
    assert "sent 3, to retry 0, dead 0. Outbox: 0 pending, 3 sent, 0 dead." in result.stdout
    assert [p.name for p in mail_files(tmp_path)] == sorted(f"{i.id}.eml" for i in items)
    again = invoke("outbox", "relay", "--once")
    assert "sent 0, to retry 0, dead 0" in again.stdout


def test_relay_once_keeps_a_failed_message_for_later_without_leaking_the_smtp_password(
    invoke: Invoke, container: Container, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("WEBMAGIC_SMTP_URL", f"smtp://mailer:smtp-s3cret@127.0.0.1:{port}")
    item = queue()

    result = invoke("outbox", "relay", "--once")

    assert result.exit_code == 0, result.output
    assert f"Mail is sent through the SMTP server at 127.0.0.1:{port}." in result.stdout
    assert "sent 0, to retry 1, dead 0" in result.stdout
    stored = container.relay.get(item.id)
    assert (stored.status, stored.attempts) == (OutboxStatus.PENDING, 1)
    assert stored.last_error
    shown = listed(invoke)
    assert shown[0]["last_error"] == stored.last_error
    assert "smtp-s3cret" not in result.output + json.dumps(shown)


def test_relay_runs_until_sigterm_then_says_what_it_did(
    invoke: Invoke, container: Container, queue: Queue, tmp_path: Path
) -> None:
    queue()
    before = signal.getsignal(signal.SIGTERM)

    def stop_when_sent() -> None:
        deadline = time.monotonic() + 20
        while not mail_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        # The relay installs its handler before its first batch, so this stops it gently.
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_when_sent)
    stopper.start()
    result = invoke("outbox", "relay", "--interval", "0.05")
    stopper.join()

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "Relaying every 0.05 s (Ctrl+C to stop). Outbox: 1 pending, 0 sent, 0 dead."
    batch = [line for line in lines if line.endswith("sent 1, to retry 0, dead 0")]
    assert len(batch) == 1
    assert " UTC  " in batch[0]
    assert lines[-1] == "Stopped. In total: sent 1, to retry 0, dead 0."
    assert signal.getsignal(signal.SIGTERM) is before


class ScriptedRelay:
    """Stands in for ``OutboxRelay`` in ``relay_loop``: plays back outcomes, then stops it."""

    batch_size = 3

    def __init__(self, stop: threading.Event, outcomes: list[RelayReport | Exception]) -> None:
        self.stop, self.outcomes, self.calls = stop, outcomes, 0

    def run_once(self) -> RelayReport:
        self.calls += 1
        if len(self.outcomes) == 1:
            self.stop.set()
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class InstantStop(threading.Event):
    """A stop flag whose waits return at once and are recorded (the loop's idle pauses)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_the_relay_loop_survives_a_busy_database_and_runs_again_at_once_after_a_full_batch() -> None:
    stop = InstantStop()
    relay = ScriptedRelay(
        stop,
        [
            TransientError("the database is unavailable or busy, try again (database is locked)"),
            RelayReport(sent=3),  # a full batch: straight on, no pause
            RelayReport(sent=1, dead=1),
            RelayReport(),
        ],
    )
    lines: list[str] = []

    total = relay_loop(relay, FakeClock(), stop=stop, interval=7, say=lines.append)  # type: ignore[arg-type]

    assert relay.calls == 4
    assert total == RelayReport(sent=4, dead=1)
    assert lines == [
        "2026-01-01 12:00:00 UTC  the database is unavailable or busy, try again (database is locked); "
        "trying again in 7 s",
        "2026-01-01 12:00:00 UTC  sent 3, to retry 0, dead 0",
        "2026-01-01 12:00:00 UTC  sent 1, to retry 0, dead 1",
    ]
    # Paused after the error and after each short batch, not after the full one.
    assert stop.waits == [7, 7, 7]


def webmagic_script() -> str:
    beside = Path(sys.executable).with_name("webmagic")
    assert beside.is_file(), f"the webmagic console script is not installed beside {sys.executable}"
    return str(beside)


def test_the_installed_relay_worker_sends_and_stops_on_sigterm(
    container: Container, queue: Queue, cli_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "relay.log"
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"} | cli_env
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [webmagic_script(), "outbox", "relay", "--interval", "0.1"],
            env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "Relaying every" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        item = queue()  # queued while the worker runs
        while not mail_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p.name for p in mail_files(tmp_path)] == [f"{item.id}.eml"], log.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "sent 1, to retry 0, dead 0" in text
    assert text.rstrip().endswith("Stopped. In total: sent 1, to retry 0, dead 0.")
    assert container.relay.get(item.id).status is OutboxStatus.SENT
