"""``webmagic outbox ...``: look at the queued email, requeue dead messages, run a relay."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, Any

import typer
from rich.text import Text

from webmagic_cli import output
from webmagic_cli.errors import UsageProblem
from webmagic_cli.options import (
    SHORT_ID_SEARCH,
    DatabaseUrl,
    DataDir,
    Json,
    only,
    resolve_id,
    services,
    settings_from,
)
from webmagic_cli.publish import publish_loop
from webmagic_cli.serve import describe_mail
from webmagic_core.errors import TransientError
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.ports import Clock
from webmagic_core.services.outbox import OutboxRelay, RelayReport

app = typer.Typer(
    name="outbox",
    help="The queued email: list it, requeue dead messages, run a relay that sends it.",
    no_args_is_help=True,
)

STATUS_STYLES: dict[OutboxStatus, str] = {
    OutboxStatus.PENDING: "yellow",
    OutboxStatus.SENT: "green",
    OutboxStatus.DEAD: "bold red",
}
MAX_LIST = 10_000


def _status_text(status: OutboxStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES[status])


def _message_json(item: OutboxMessage) -> dict[str, Any]:
    # The body (text and HTML) stays out: it may hold links that log a customer in. Mail is
    # rendered when sent, so a message not sent yet has no subject (null): its template
    # says what it is, and rendering it here would put a template bug into a listing.
    message = item.message
    return {
        "id": str(item.id),
        "to": message.to,
        "subject": message.subject or None,
        "template": message.template.value,
        "status": item.status.value,
        "attempts": item.attempts,
        "created_at": output.iso(item.created_at),
        "next_attempt_at": output.iso(item.next_attempt_at) if item.status is OutboxStatus.PENDING else None,
        "sent_at": output.iso(item.sent_at) if item.sent_at else None,
        "last_error": item.last_error,
        "site_id": str(message.site_id) if message.site_id else None,
    }


def _counts_line(counts: dict[OutboxStatus, int]) -> str:
    return ", ".join(f"{counts[status]} {status.value}" for status in OutboxStatus)


@app.command("list")
def list_messages(
    dead: Annotated[
        bool, typer.Option("--dead", help="Only dead messages (every attempt failed): see `outbox retry`.")
    ] = False,
    status: Annotated[
        OutboxStatus | None,
        only("messages in this status", OutboxStatus),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Show at most this many, newest first.", min=1, max=MAX_LIST)
    ] = 50,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """List queued, sent and dead email, newest first (never the message bodies).

    With `--json`, prints an array of objects with `id`, `to`, `subject`, `template`,
    `status`, `attempts`, `created_at`, `next_attempt_at` (null unless pending), `sent_at`,
    `last_error` and `site_id`.

    Example: `webmagic outbox list --dead`
    """
    if dead and status not in (None, OutboxStatus.DEAD):
        raise UsageProblem(f"--dead and --status {status.value} contradict each other; use one of them")
    wanted = OutboxStatus.DEAD if dead else status
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        items = container.relay.list(status=wanted, limit=limit)
        counts = container.relay.counts()
    if as_json:
        output.print_json([_message_json(item) for item in items])
        return
    if not items:
        output.say(f"No {wanted.value} messages." if wanted else "The outbox is empty.")
        if wanted:
            output.say(f"Outbox: {_counts_line(counts)}.", style="dim")
        return
    grid = output.table(
        "ID",
        "To",
        "Subject",
        "Template",
        "Status",
        "Attempts",
        "Next attempt",
        "Last error",
        no_wrap=("ID", "Next attempt"),
    )
    for item in items:
        pending = item.status is OutboxStatus.PENDING
        grid.add_row(
            output.short_id(item.id),
            Text(item.message.to),
            Text(item.message.subject) if item.message.subject else Text("(rendered when sent)", style="dim"),
            item.message.template.value,
            _status_text(item.status),
            str(item.attempts),
            output.when(item.next_attempt_at) if pending else "—",
            Text(item.last_error or "—", style="red" if item.last_error else "dim"),
        )
    output.print_table(grid)
    total = counts[wanted] if wanted else sum(counts.values())
    shown = (
        f"{len(items)} of {total} (newest first)"
        if total > len(items)
        else output.plural(len(items), "message")
    )
    output.say(f"{shown}. Outbox: {_counts_line(counts)}.", style="dim")


@app.command()
def retry(
    message_id: Annotated[
        str | None,
        typer.Argument(
            help="The message's id, or its first characters as `outbox list` shows them.",
            metavar="ID",
            show_default=False,
        ),
    ] = None,
    all_dead: Annotated[
        bool, typer.Option("--all-dead", help="Requeue every dead message (after fixing the cause).")
    ] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Requeue a dead message (or all of them): it gets a fresh set of attempts and is due at once.

    A running relay (`webmagic serve` or `webmagic outbox relay`) sends it next.

    Example: `webmagic outbox retry 0b7e3c1e-...` or `webmagic outbox retry --all-dead`
    """
    if (message_id is None) == (not all_dead):
        raise UsageProblem("give either a message ID or --all-dead, not both or neither")
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    if all_dead:
        with services(settings) as container:
            count = container.relay.requeue_all_dead()
        output.say(f"Requeued {count} dead message(s); the relay sends them next.")
        return
    assert message_id is not None
    with services(settings) as container:
        parsed = resolve_id(
            message_id,
            "a message",
            "outbox list",
            lambda: (m.id for m in container.relay.list(limit=SHORT_ID_SEARCH)),
        )
        item = container.relay.requeue(parsed)
    output.say(
        Text("Requeued ")
        + Text(str(item.id), style="bold")
        + Text(f" to {item.message.to} ({item.message.subject!r}); the relay sends it next.")
    )


# --- the relay worker ------------------------------------------------------------------------------


class StopFlag:
    """Set by SIGINT/SIGTERM: the relay finishes the batch in hand and stops, so no message
    is left claimed. A second signal stops at once (a message then waits out its lease)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[None]:
    previous = {sig: signal.signal(sig, flag) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _report_line(report: RelayReport) -> str:
    return f"sent {report.sent}, to retry {report.retried}, dead {report.dead}"


def relay_loop(
    relay: OutboxRelay,
    clock: Clock,
    *,
    stop: threading.Event,
    interval: float,
    say: Callable[[str], None],
) -> RelayReport:
    """``run_once`` until ``stop`` is set: at once again after a full batch, else after
    ``interval`` seconds. One line per batch that handled anything; a database that is
    down or busy is reported and tried again, not fatal to a long-running worker."""
    total = RelayReport()
    while not stop.is_set():
        try:
            report = relay.run_once()
        except TransientError as error:
            say(f"{output.when(clock.now())}  {error.detail}; trying again in {interval:g} s")
            stop.wait(interval)
            continue
        total += report
        if report.handled:
            say(f"{output.when(clock.now())}  {_report_line(report)}")
        if report.handled < relay.batch_size:
            stop.wait(interval)
    return total


@app.command("relay")
def relay_command(
    once: Annotated[
        bool, typer.Option("--once", help="Send what is due now, then exit (for cron or a one-off).")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", help="Seconds between looks for due messages when idle.", min=0.05, max=3600
        ),
    ] = 5.0,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Send the queued email from a separate worker process, until Ctrl+C or SIGTERM.

    `webmagic serve` already relays in the background; run this on a machine that only
    sends mail, or to drain the queue after an outage. Several relays may run at once: each
    message is claimed by one of them. Failed sends are retried with backoff and end up dead
    (see `outbox list --dead`) after the last attempt.

    Example: `webmagic outbox relay --interval 10`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        relay, clock = container.relay, container.clock
        output.say(describe_mail(settings))
        if once:
            if container.publishing is not None:
                published = container.publishing.drain()
                output.say(f"Published {published.published} site(s), {published.withdrawn} without files.")
            report = relay.drain()
            output.say(f"{_report_line(report)}. Outbox: {_counts_line(relay.counts())}.")
            return
        output.say(f"Relaying every {interval:g} s (Ctrl+C to stop). Outbox: {_counts_line(relay.counts())}.")
        flag = StopFlag()
        publishing = container.publishing
        publisher: threading.Thread | None = None
        if publishing is not None:  # WEBMAGIC_PUBLISH_DIR: the publish queue is drained here too
            output.say(f"Publishing sites to {settings.publish_dir} as they change.")
            publisher = threading.Thread(
                target=publish_loop,
                args=(publishing, clock),
                kwargs={"stop": flag.event, "interval": settings.publish_interval_seconds or 0.5},
                name="webmagic-publisher",
                daemon=True,
            )
            publisher.start()
        with stop_on_signals(flag):
            total = relay_loop(relay, clock, stop=flag.event, interval=interval, say=output.say)
        if publisher is not None:
            publisher.join()
        output.say(f"Stopped. In total: {_report_line(total)}.")
