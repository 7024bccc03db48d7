"""Background work across processes: outbox relays claiming mail from one database.

    .venv/bin/python benchmarks/relays.py                          # PostgreSQL, 1/2/4 relays
    .venv/bin/python benchmarks/relays.py --backend sqlite --relays 1 2
    .venv/bin/python benchmarks/relays.py --messages 4000 --send-ms 10

For each backend and relay count it queues ``--messages`` emails in a scratch database
(a PostgreSQL schema of its own, or a SQLite file), starts that many relay *processes*
(each its own ``Database`` and ``OutboxRelay``, as `webmagic outbox relay` runs them), each
sending through a mailer that takes ``--send-ms`` per message (an SMTP round trip) and
writes what it sent to a file, and waits until the outbox is empty. It prints messages/s
and checks that every message was sent exactly once: no duplicate, no loss, every row
``sent``.

This is the figure behind the decision in docs/operations.md ("Background work") to keep
claiming rows ourselves (leases, ``FOR UPDATE SKIP LOCKED``) rather than adopt a job
engine. Not a test: the relays share the machine's cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from webhooks import DEFAULT_POSTGRES_URL, scratch_database  # benchmarks/webhooks.py

from webmagic_adapters.keys import Keyring
from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.tables import outbox_messages
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.clock import SystemClock
from webmagic_core.outbox import OutboxMessage
from webmagic_core.services.outbox import OutboxRelay


class FileMailer:
    """A mail server that takes ``seconds`` per message and remembers what it was sent."""

    def __init__(self, path: Path, seconds: float) -> None:
        self.path, self.seconds = path, seconds
        self.sent: list[str] = []

    def send(self, message: EmailMessage) -> None:
        time.sleep(self.seconds)
        self.sent.append(str(message.id))


# The outbox seals message bodies with a key derived from the secret key.
SECRET_KEY = "relay-benchmark-" + "k" * 32


def open_database(url: str) -> Database:
    return Database(url, keys=Keyring(SECRET_KEY, None))


def queue(url: str, count: int) -> None:
    database = open_database(url)
    try:
        database.upgrade()
        now = dt.datetime.now(dt.UTC)
        for start in range(0, count, 500):
            with database.unit_of_work() as uow:
                for index in range(start, min(start + 500, count)):
                    message = EmailMessage(
                        id=uuid.uuid4(),
                        to=f"owner{index}@example.com",
                        subject="Your website is live",
                        text="Hello",
                        html="<p>Hello</p>",
                        template=EmailTemplate.PASSWORD_CHANGED,
                    )
                    uow.outbox.add(OutboxMessage.pending(message, now))
                uow.commit()
    finally:
        database.dispose()


def relay_process(url: str, out: str, send_seconds: float, batch: int, started: float) -> None:
    """One relay: claim and send until a round finds nothing due."""
    database = open_database(url)
    mailer = FileMailer(Path(out), send_seconds)
    relay = OutboxRelay(
        uow=database.unit_of_work,
        mailer=mailer,
        clock=SystemClock(),
        renderer=JinjaEmailRenderer(),
        batch_size=batch,
    )
    rounds = 0
    try:
        while time.time() < started:  # every relay starts at the same moment
            time.sleep(0.001)
        began = time.time()
        while relay.run_once().handled:
            rounds += 1
    finally:
        database.dispose()
    Path(out).write_text("\n".join([f"# {rounds} {began:.6f} {time.time():.6f}", *mailer.sent]))


def run(url: str, relays: int, args: argparse.Namespace, workdir: Path) -> list[str]:
    queue(url, args.messages)
    outs = [workdir / f"relay-{relays}-{n}.txt" for n in range(relays)]
    started = time.time() + 5.0  # after every process has imported and connected
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=relay_process, args=(url, str(out), args.send_ms / 1000, args.batch, started))
        for out in outs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    sent: list[str] = []
    rounds = 0
    began, ended = [], []
    for out in outs:
        header, *ids = out.read_text().splitlines()
        count, first, last = header.removeprefix("# ").split()
        rounds += int(count)
        began.append(float(first))
        ended.append(float(last))
        sent.extend(ids)
    elapsed = max(ended) - min(began)
    problems: list[str] = []
    twice = [message for message, times in Counter(sent).items() if times > 1]
    if twice:
        problems.append(f"{len(twice)} messages sent more than once")
    if len(set(sent)) != args.messages:
        problems.append(f"{args.messages - len(set(sent))} messages never sent")
    database = open_database(url)
    try:
        with database.engine.connect() as connection:
            statuses = dict(
                connection.execute(
                    select(outbox_messages.c.status, func.count()).group_by(outbox_messages.c.status)
                ).all()
            )
    finally:
        database.dispose()
    if statuses != {"sent": args.messages}:
        problems.append(f"outbox rows by status: {statuses}")
    print(
        f"  {relays} relay(s): {args.messages / elapsed:,.0f} messages/s ({elapsed:.1f} s), "
        f"{rounds} rounds of up to {args.batch}; "
        f"sent {len(sent)}, distinct {len(set(sent))}, duplicates {len(twice)}"
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="postgresql")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="a schema is created in it")
    parser.add_argument("--relays", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--send-ms", type=float, default=10.0, help="time one SMTP send takes")
    parser.add_argument("--batch", type=int, default=50, help="messages claimed per round (relay default)")
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    problems: list[str] = []
    for backend in backends:
        print(f"{backend}: {args.messages:,} messages, {args.send_ms:g} ms per send")
        for relays in args.relays:
            with tempfile.TemporaryDirectory() as raw:
                workdir = Path(raw)
                with scratch_database(backend, workdir, args.postgres_url) as url:
                    problems += [f"{backend}, {relays} relays: {p}" for p in run(url, relays, args, workdir)]
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
