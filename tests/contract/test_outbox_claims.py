"""Several relays on one outbox, on SQLite and PostgreSQL: every message is sent exactly
once, and a relay that dies between claim and outcome loses nothing.

Each relay gets its own ``Database`` (its own engine and pool), as a separate worker
process would.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator

import attrs
import pytest
from contract_support import TEST_KEYS

from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.ports import UnitOfWorkFactory
from webmagic_core.services.outbox import OutboxRelay
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer

RENDERER = JinjaEmailRenderer()

LEASE = dt.timedelta(minutes=5)


@attrs.define
class RecordingMailer:
    """Thread-safe: records (relay name, message id) for every send, after a short pause
    that lets the other relay run (a real send takes a while)."""

    name: str
    log: list[tuple[str, uuid.UUID]]
    lock: threading.Lock
    pause: float = 0.0005

    def send(self, message: EmailMessage) -> None:
        time.sleep(self.pause)
        with self.lock:
            self.log.append((self.name, message.id))


class Crash(BaseException):
    """The process dying mid-send: not an ``Exception``, so the relay records nothing."""


@attrs.define
class CrashingMailer:
    def send(self, message: EmailMessage) -> None:
        raise Crash()


@pytest.fixture
def second_database(database: Database) -> Iterator[Database]:
    other = Database(database.engine.url.render_as_string(hide_password=False), keys=TEST_KEYS)
    yield other
    other.dispose()


def queue(uow: UnitOfWorkFactory, count: int, at: dt.datetime) -> list[uuid.UUID]:
    """``count`` messages queued at ``at`` and the microseconds after it, in id order."""
    items = [
        OutboxMessage.pending(
            EmailMessage(
                id=uuid.uuid4(),
                to=f"owner{i}@example.com",
                subject=f"Message {i}",
                text=f"Hello {i}\n",
                html=f"<p>Hello {i}</p>",
                template=EmailTemplate.SITE_RESTORED,
            ),
            # Half of them share a creation instant, as mail queued by one change does.
            at + dt.timedelta(microseconds=i // 2),
        )
        for i in range(count)
    ]
    with uow() as work:
        for item in items:
            work.outbox.add(item)
        work.commit()
    return [item.id for item in items]


def counts(uow: UnitOfWorkFactory) -> dict[OutboxStatus, int]:
    with uow() as work:
        return work.outbox.count_by_status()


def test_two_relays_racing_send_every_message_exactly_once(
    database: Database, second_database: Database
) -> None:
    clock = FakeClock()
    queued = queue(database.unit_of_work, 200, clock.now())
    clock.advance(dt.timedelta(seconds=1))
    log: list[tuple[str, uuid.UUID]] = []
    lock = threading.Lock()
    relays = [
        OutboxRelay(
            uow=db.unit_of_work,
            mailer=RecordingMailer(name, log, lock),
            clock=clock,
            renderer=RENDERER,
            lease=LEASE,
            batch_size=7,
        )
        for name, db in (("a", database), ("b", second_database))
    ]
    barrier = threading.Barrier(len(relays))
    errors: list[BaseException] = []

    def run(relay: OutboxRelay) -> None:
        try:
            barrier.wait()
            while relay.run_once().handled:
                pass
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(relay,)) for relay in relays]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    sends = collections.Counter(message_id for _, message_id in log)
    assert set(sends) == set(queued)
    assert [m for m, n in sends.items() if n > 1] == []
    assert len(log) == 200
    by_relay = collections.Counter(name for name, _ in log)
    assert min(by_relay["a"], by_relay["b"]) > 0, f"the relays did not both work: {by_relay}"
    assert counts(database.unit_of_work) == {OutboxStatus.SENT: 200}
    with database.unit_of_work() as work:
        assert {item.attempts for item in work.outbox.list(limit=500)} == {1}
    assert elapsed < 60


def test_a_second_claim_gets_other_messages_while_the_first_is_open(
    database: Database, second_database: Database
) -> None:
    """PostgreSQL: the second claim skips the rows the first has locked and returns at once.
    SQLite: it waits for the first claim's write lock, then sees those rows claimed."""
    clock = FakeClock()
    queued = queue(database.unit_of_work, 5, clock.now())
    clock.advance(dt.timedelta(seconds=1))
    second: list[list[uuid.UUID]] = []
    errors: list[BaseException] = []

    def claim_in_background() -> None:
        try:
            with second_database.unit_of_work() as work:
                second.append([m.id for m in work.outbox.claim_due(clock.now(), limit=10, lease=LEASE)])
                work.commit()
        except BaseException as error:
            errors.append(error)

    with database.unit_of_work() as first:
        taken = [m.id for m in first.outbox.claim_due(clock.now(), limit=2, lease=LEASE)]
        thread = threading.Thread(target=claim_in_background)
        thread.start()
        thread.join(timeout=0.5 if database.dialect_name == "sqlite" else 10)
        if database.dialect_name == "sqlite":
            assert thread.is_alive(), "the second claim did not wait for the write lock"
        else:
            assert not thread.is_alive(), "the second claim waited for locked rows"
        first.commit()
    thread.join(timeout=10)

    assert errors == []
    assert taken == queued[:2]
    assert second == [queued[2:]]


def test_a_relay_that_dies_after_claiming_loses_nothing(
    database: Database, second_database: Database
) -> None:
    clock = FakeClock()
    queued = queue(database.unit_of_work, 3, clock.now())
    clock.advance(dt.timedelta(seconds=1))
    dying = OutboxRelay(
        uow=database.unit_of_work, mailer=CrashingMailer(), clock=clock, renderer=RENDERER, lease=LEASE
    )
    mailer = FakeMailer()
    survivor = OutboxRelay(
        uow=second_database.unit_of_work, mailer=mailer, clock=clock, renderer=RENDERER, lease=LEASE
    )

    with pytest.raises(Crash):
        dying.run_once()  # claimed all three and committed the claim, then died
    with database.unit_of_work() as work:
        held = list(work.outbox.list())
    assert {(m.status, m.attempts, m.claimed_until) for m in held} == {
        (OutboxStatus.PENDING, 0, clock.now() + LEASE)
    }

    clock.advance(LEASE - dt.timedelta(seconds=1))
    assert survivor.run_once().handled == 0  # still held by the dead relay
    assert mailer.sent == []

    clock.advance(dt.timedelta(seconds=1))
    report = survivor.run_once()
    assert report.sent == 3
    assert sorted(m.id for m in mailer.sent) == sorted(queued)
    assert counts(database.unit_of_work) == {OutboxStatus.SENT: 3}
    with second_database.unit_of_work() as work:
        for message_id in queued:
            item = work.outbox.get(message_id)
            assert item is not None
            assert (item.attempts, item.sent_at, item.claimed_until) == (1, clock.now(), None)
