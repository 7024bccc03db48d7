"""Queued mail encrypted at rest, on SQLite and PostgreSQL: the stored bodies hold no link
or token (read from the raw row), the relay still sends the right body, a key rotation
loses nothing, rows stored plain before encryption are sent and then encrypted, and a
body no key opens buries its message with a reason instead of crashing the relay."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator

import attrs
import pytest
from contract_support import TEST_KEYS
from sqlalchemy import event, insert, select, update

from webmagic_adapters.body_cipher import SEALED_PREFIX
from webmagic_adapters.keys import Keyring
from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.outbox_repository import UNREADABLE_HTML, UNREADABLE_REASON, UNREADABLE_TEXT
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.outbox import REDACTED_HTML, REDACTED_TEXT, OutboxMessage, OutboxStatus
from webmagic_core.services.outbox import OutboxRelay, queue_email
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)
TOKEN = "Zq3vT0kEn-4f9a2b7c1d"
OLD_SECRET = "the-old-secret-key-of-at-least-32-bytes"
NEW_SECRET = "the-new-secret-key-of-at-least-32-bytes"
LOST_SECRET = "a-secret-key-nobody-has-any-more-32-bytes"

_outbox = t.outbox_messages


def reset_mail(to: str = "rosa@example.com") -> EmailMessage:
    link = f"https://app.example.com/portal/reset-password?token={TOKEN}"
    return EmailMessage(
        id=uuid.uuid4(),
        to=to,
        subject="Reset your password",
        text=f"Hello Rosa,\nreset it here: {link}\n",
        html=f'<p>Hello Rosa, <a href="{link}">reset it</a> &amp; go.</p>',
        template=EmailTemplate.PASSWORD_RESET,
    )


def pending(status: OutboxStatus = OutboxStatus.PENDING) -> OutboxMessage:
    item = OutboxMessage.pending(reset_mail(), T0)
    item.status = status
    return item


@pytest.fixture
def open_with(database: Database) -> Iterator[Callable[[Keyring], Database]]:
    """Another process on the same database, started with ``keys``."""
    opened: list[Database] = []

    def make(keys: Keyring) -> Database:
        other = Database(database.engine.url.render_as_string(hide_password=False), keys=keys)
        opened.append(other)
        return other

    yield make
    for other in opened:
        other.dispose()


def store(database: Database, *items: OutboxMessage) -> None:
    with database.unit_of_work() as work:
        for item in items:
            work.outbox.add(item)
        work.commit()


def raw(database: Database, message_id: uuid.UUID) -> tuple[str, str]:
    """The body columns as stored."""
    with database.engine.connect() as connection:
        row = connection.execute(
            select(_outbox.c.text, _outbox.c.html).where(_outbox.c.id == message_id)
        ).one()
    return row.text, row.html


def stored_row(database: Database, message_id: uuid.UUID) -> dict[str, object]:
    with database.engine.connect() as connection:
        return dict(connection.execute(select(_outbox).where(_outbox.c.id == message_id)).one()._mapping)


def assert_sealed(database: Database, message_id: uuid.UUID) -> None:
    for value in raw(database, message_id):
        assert value.startswith(SEALED_PREFIX)
        assert TOKEN not in value
        assert "reset-password" not in value
        assert "Hello Rosa" not in value


def claim(database: Database, now: dt.datetime = T0) -> list[OutboxMessage]:
    with database.unit_of_work() as work:
        claimed = list(work.outbox.claim_due(now, limit=10, lease=LEASE))
        work.commit()
    return claimed


def get(database: Database, message_id: uuid.UUID) -> OutboxMessage:
    with database.unit_of_work() as work:
        found = work.outbox.get(message_id)
    assert found is not None
    return found


def relay(database: Database, mailer: FakeMailer) -> OutboxRelay:
    return OutboxRelay(
        uow=database.unit_of_work,
        mailer=mailer,
        clock=FakeClock(T0 + dt.timedelta(seconds=1)),
        renderer=JinjaEmailRenderer(),
    )


def test_the_stored_bodies_hold_no_link_and_read_back_whole(database: Database) -> None:
    waiting, dead = pending(), pending(OutboxStatus.DEAD)
    store(database, waiting, dead)

    for item in (waiting, dead):
        assert_sealed(database, item.id)
        assert get(database, item.id) == item
    # Two encryptions of the same text differ (a fresh nonce each): equal bodies cannot be spotted.
    twin = OutboxMessage.pending(attrs.evolve(waiting.message, id=uuid.uuid4()), T0)
    store(database, twin)
    assert raw(database, twin.id) != raw(database, waiting.id)

    claimed = claim(database)
    assert [item.message for item in claimed] == [waiting.message, twin.message]
    with database.unit_of_work() as work:
        assert [item.message for item in work.outbox.list(status=OutboxStatus.DEAD)] == [dead.message]

    # A failed attempt is saved: still sealed, still whole.
    item = claimed[0]
    item.attempts, item.last_error, item.claimed_until = 1, "timed out", None
    with database.unit_of_work() as work:
        work.outbox.save(item)
        work.commit()
    assert_sealed(database, item.id)
    assert get(database, item.id) == item


def test_the_relay_sends_the_right_body_and_keeps_none_once_sent(database: Database) -> None:
    item = pending()
    store(database, item)
    mailer = FakeMailer()

    report = relay(database, mailer).drain()

    assert report.sent == 1
    assert mailer.sent == [item.message]  # the link itself, decrypted
    assert raw(database, item.id) == (REDACTED_TEXT, REDACTED_HTML)
    assert get(database, item.id).redacted


def test_a_body_moved_to_another_row_or_column_does_not_open(database: Database) -> None:
    victim, other = pending(), pending()
    store(database, victim, other)
    text, _ = raw(database, victim.id)
    with database.engine.begin() as connection:
        connection.execute(update(_outbox).where(_outbox.c.id == other.id).values(text=text))
    assert get(database, other.id).message.text == UNREADABLE_TEXT
    assert get(database, victim.id) == victim
    with database.engine.begin() as connection:
        connection.execute(update(_outbox).where(_outbox.c.id == victim.id).values(html=text))
    assert get(database, victim.id).message.html == UNREADABLE_HTML


def test_during_a_rotation_mail_sealed_with_the_previous_key_is_sent_and_resealed(
    database: Database, open_with: Callable[[Keyring], Database]
) -> None:
    before = open_with(Keyring(OLD_SECRET))
    waiting, dead = pending(), pending(OutboxStatus.DEAD)
    store(before, waiting, dead)
    sealed_before = {item.id: raw(before, item.id) for item in (waiting, dead)}

    rotating = open_with(Keyring(NEW_SECRET, previous=OLD_SECRET))
    mailer = FakeMailer()
    mailer.fail_next()  # the first attempt fails: the message is saved, not sent

    assert relay(rotating, mailer).run_once().retried == 1

    # The first claim of the process sealed every pending and dead body with the new key.
    for item in (waiting, dead):
        assert raw(rotating, item.id) != sealed_before[item.id]
        assert_sealed(rotating, item.id)
    after = open_with(Keyring(NEW_SECRET))  # the previous key removed: nothing is lost
    assert get(after, dead.id) == dead
    retried = get(after, waiting.id)
    assert (retried.message, retried.attempts, retried.status) == (waiting.message, 1, OutboxStatus.PENDING)
    later = OutboxRelay(
        uow=after.unit_of_work,
        mailer=mailer,
        clock=FakeClock(T0 + dt.timedelta(days=1)),
        renderer=JinjaEmailRenderer(),
    )
    assert later.drain().sent == 1
    assert mailer.sent == [waiting.message]


def test_a_message_saved_during_a_rotation_is_sealed_with_the_current_key(
    database: Database, open_with: Callable[[Keyring], Database]
) -> None:
    before = open_with(Keyring(OLD_SECRET))
    item = pending(OutboxStatus.DEAD)
    store(before, item)
    rotating = open_with(Keyring(NEW_SECRET, previous=OLD_SECRET))

    requeued = relay(rotating, FakeMailer()).requeue(item.id)  # no claim ran: the save re-seals

    assert requeued.message == item.message
    assert get(open_with(Keyring(NEW_SECRET)), item.id).message == item.message


def insert_plain(database: Database, item: OutboxMessage) -> None:
    """A row as the outbox wrote it before bodies were encrypted."""
    message = item.message
    with database.engine.begin() as connection:
        connection.execute(
            insert(_outbox).values(
                id=message.id,
                recipient=message.to,
                subject=message.subject,
                text=message.text,
                html=message.html,
                template=message.template.value,
                site_id=None,
                headers={},
                status=item.status.value,
                attempts=item.attempts,
                created_at=item.created_at,
                next_attempt_at=item.next_attempt_at,
            )
        )


def test_rows_stored_plain_before_encryption_are_sent_and_encrypted(database: Database) -> None:
    waiting, dead, later = pending(), pending(OutboxStatus.DEAD), pending()
    later.next_attempt_at = T0 + dt.timedelta(hours=1)
    for item in (waiting, dead, later):
        insert_plain(database, item)
    assert get(database, waiting.id) == waiting  # readable as they are
    mailer = FakeMailer()

    assert relay(database, mailer).drain().sent == 1

    assert mailer.sent == [waiting.message]
    # The first claim encrypted the rest: not due yet, or dead awaiting `outbox retry`.
    for item in (dead, later):
        assert_sealed(database, item.id)
        assert get(database, item.id) == item


def test_a_body_no_key_opens_buries_its_message_with_a_reason(
    database: Database, open_with: Callable[[Keyring], Database], caplog: pytest.LogCaptureFixture
) -> None:
    lost = open_with(Keyring(LOST_SECRET))
    orphan, fine = pending(), pending()
    store(lost, orphan)
    store(database, fine)
    sealed = raw(database, orphan.id)
    mailer = FakeMailer()

    with caplog.at_level(logging.WARNING):
        report = relay(database, mailer).drain()

    assert report.sent == 1
    assert mailer.sent == [fine.message]  # the other mail still goes; the orphan never does
    row = stored_row(database, orphan.id)
    assert (row["status"], row["last_error"], row["claimed_until"]) == ("dead", UNREADABLE_REASON, None)
    assert "WEBMAGIC_SECRET_KEY" in UNREADABLE_REASON
    for value in sealed:
        assert value not in UNREADABLE_REASON
        assert value[len(SEALED_PREFIX) :][:16] not in caplog.text
    assert f"outbox message {orphan.id} to rosa@example.com is dead" in caplog.text
    assert raw(database, orphan.id) == sealed  # kept as it was: the key may come back
    shown = get(database, orphan.id)
    assert (shown.message.text, shown.message.html) == (UNREADABLE_TEXT, UNREADABLE_HTML)

    # Retried without the key: the bodies stay, and the message is buried again.
    relay(database, mailer).requeue(orphan.id)
    assert raw(database, orphan.id) == sealed
    assert relay(database, mailer).drain().sent == 0
    assert stored_row(database, orphan.id)["status"] == "dead"

    # The key restored (as the previous one): retried, it is sent with its own body.
    restored = open_with(Keyring(TEST_KEYS.current, previous=LOST_SECRET))
    relay(restored, mailer).requeue(orphan.id)
    assert relay(restored, mailer).drain().sent == 1
    assert mailer.sent[-1] == orphan.message


def test_a_database_opened_without_the_secret_key_neither_queues_nor_claims_mail(
    database: Database, open_with: Callable[[Keyring], Database]
) -> None:
    item = pending()
    store(database, item)
    unkeyed = Database(database.engine.url.render_as_string(hide_password=False))
    try:
        with unkeyed.unit_of_work() as work, pytest.raises(RuntimeError, match="without the secret key"):
            work.outbox.add(pending())
        with pytest.raises(RuntimeError, match="without the secret key"):
            claim(unkeyed)
        assert get(unkeyed, item.id).message.text == UNREADABLE_TEXT  # readable for `outbox list`
    finally:
        unkeyed.dispose()
    assert stored_row(database, item.id)["status"] == "pending"  # nothing was buried
    assert claim(database)[0] == attrs.evolve(item, claimed_until=T0 + LEASE)


@pytest.mark.postgres
def test_the_start_up_pass_never_puts_back_a_body_a_relay_has_just_dropped(postgres_url: str) -> None:
    """PostgreSQL: the pass reads without locking rows; a relay that marks a message sent
    between that read and the pass's write must keep it redacted. (On SQLite the pass
    holds the write lock, so nobody can.)"""
    sweeping, relaying = Database(postgres_url, keys=TEST_KEYS), Database(postgres_url, keys=TEST_KEYS)
    try:
        sweeping.upgrade()
        item = pending()
        item.next_attempt_at = T0 + dt.timedelta(hours=1)  # not claimed: only the pass reads it
        insert_plain(sweeping, item)
        interleaved: list[str] = []

        def send_it_meanwhile(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if statement.startswith("UPDATE outbox_messages SET text") and not interleaved:
                interleaved.append(statement)
                with relaying.unit_of_work() as work:
                    sent = work.outbox.get(item.id)
                    assert sent is not None
                    sent.mark_sent(T0)
                    work.outbox.save(sent)
                    work.commit()

        event.listen(sweeping.engine, "before_cursor_execute", send_it_meanwhile)
        assert claim(sweeping) == []

        assert interleaved
        assert raw(sweeping, item.id) == (REDACTED_TEXT, REDACTED_HTML)
        assert stored_row(sweeping, item.id)["status"] == "sent"
    finally:
        sweeping.dispose()
        relaying.dispose()


# --- mail queued as data, rendered by the relay ----------------------------------------------

LINK = f"https://app.example.com/portal/reset-password?token={TOKEN}"
RESET_DATA = {"reset_url": LINK, "full_name": "Rosa Díaz"}


def queued_reset(database: Database, to: str = "rosa@example.com") -> OutboxMessage:
    with database.unit_of_work() as work:
        item = queue_email(work, EmailTemplate.PASSWORD_RESET, to, RESET_DATA, T0)
        work.commit()
    return item


def assert_data_sealed(database: Database, message_id: uuid.UUID) -> str:
    data = stored_row(database, message_id)["data"]
    assert isinstance(data, str)
    assert data.startswith(SEALED_PREFIX)
    for secret in (TOKEN, "reset-password", "Rosa", "reset_url"):
        assert secret not in data
    return data


def test_queued_data_is_sealed_rendered_when_sent_and_gone_once_sent(database: Database) -> None:
    item = queued_reset(database)
    row = stored_row(database, item.id)
    assert (row["subject"], row["text"], row["html"]) == ("", "", "")  # not rendered yet
    assert_data_sealed(database, item.id)
    assert get(database, item.id).data == RESET_DATA

    mailer = FakeMailer()
    assert relay(database, mailer).drain().sent == 1

    [sent] = mailer.sent
    assert sent.id == item.id  # the Message-ID fixed when queued
    assert sent.subject == "Reset your WebMagic password"
    assert LINK in sent.text
    assert LINK.replace("&", "&amp;") in sent.html
    assert "Rosa Díaz" in sent.text
    row = stored_row(database, item.id)
    assert (row["status"], row["subject"], row["data"]) == ("sent", "Reset your WebMagic password", None)
    assert (row["text"], row["html"]) == (REDACTED_TEXT, REDACTED_HTML)
    assert TOKEN not in repr(row)


def test_a_failed_attempt_keeps_the_data_sealed_afresh_and_whole(database: Database) -> None:
    item = queued_reset(database)
    before = assert_data_sealed(database, item.id)
    mailer = FakeMailer()
    mailer.fail_next()
    assert relay(database, mailer).run_once().retried == 1
    after = assert_data_sealed(database, item.id)
    assert after != before  # sealed again (a fresh nonce)
    retried = get(database, item.id)
    assert (retried.data, retried.attempts, retried.message.subject) == (RESET_DATA, 1, "")


def test_data_moved_to_another_row_does_not_open_and_its_message_is_buried_unsent(database: Database) -> None:
    victim, other = queued_reset(database), queued_reset(database, "ana@example.com")
    data = stored_row(database, victim.id)["data"]
    with database.engine.begin() as connection:
        connection.execute(update(_outbox).where(_outbox.c.id == other.id).values(data=data))
    shown = get(database, other.id)
    assert (shown.message.text, shown.data) == (UNREADABLE_TEXT, None)

    assert [m.id for m in claim(database, T0 + dt.timedelta(seconds=1))] == [victim.id]
    buried = get(database, other.id)
    assert (buried.status, buried.last_error) == (OutboxStatus.DEAD, UNREADABLE_REASON)
    # Saving it (a requeue) leaves the stored data alone, in case it opens again.
    buried.status = OutboxStatus.PENDING
    with database.unit_of_work() as work:
        work.outbox.save(buried)
        work.commit()
    assert stored_row(database, other.id)["data"] == data


def test_during_a_rotation_queued_data_is_resealed_and_nothing_is_lost(
    database: Database, open_with: Callable[[Keyring], Database]
) -> None:
    before = open_with(Keyring(OLD_SECRET))
    waiting, dead = queued_reset(before), queued_reset(before, "ana@example.com")
    with before.unit_of_work() as work:
        item = work.outbox.get(dead.id)
        assert item is not None
        item.status = OutboxStatus.DEAD
        work.outbox.save(item)
        work.commit()
    sealed_before = stored_row(before, dead.id)["data"]

    rotating = open_with(Keyring(NEW_SECRET, previous=OLD_SECRET))
    mailer = FakeMailer()
    assert relay(rotating, mailer).run_once().sent == 1
    assert LINK in mailer.sent[0].text

    # The first claim sealed the dead message's data with the new key.
    assert assert_data_sealed(rotating, dead.id) != sealed_before
    after = open_with(Keyring(NEW_SECRET))
    assert get(after, dead.id).data == RESET_DATA
    assert stored_row(after, waiting.id)["data"] is None
