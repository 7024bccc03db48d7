"""Revision 0016 on SQLite and PostgreSQL: mail queued before it (rendered, sealed bodies)
is sent as it is after it, mail queued after it holds data and no bodies; it goes down to
0015 only once no unsent message holds data (0015's code would send it empty), and up
again. Nothing here assumes 0016 is the head."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from contract_support import TEST_KEYS
from sqlalchemy import column, delete, inspect, select
from sqlalchemy import table as sa_table

from webmagic_adapters.body_cipher import BodyCipher
from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.services.outbox import OutboxRelay, queue_email
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
LINK = "https://app.example.com/portal/reset-password?token=old-live-token"


def columns(database: Database) -> set[str]:
    return {c["name"] for c in inspect(database.engine).get_columns("outbox_messages")}


def rendered_before() -> OutboxMessage:
    return OutboxMessage.pending(
        EmailMessage(
            id=uuid.uuid4(),
            to="rosa@example.com",
            subject="Reset your password (rendered before 0016)",
            text=f"Reset it: {LINK}\n",
            html=f'<a href="{LINK}">Reset it</a>',
            template=EmailTemplate.PASSWORD_RESET,
        ),
        T0,
    )


# The columns of outbox_messages at 0015 (no ``data``).
_OLD_OUTBOX = sa_table(
    "outbox_messages", *(column(c.name, c.type) for c in tables.outbox_messages.columns if c.name != "data")
)


def add_at_0015(database: Database, item: OutboxMessage) -> None:
    """A row as the code of 0015 wrote it: rendered, bodies sealed."""
    cipher = BodyCipher.from_keyring(TEST_KEYS)
    message = item.message
    with database.engine.begin() as connection:
        connection.execute(
            _OLD_OUTBOX.insert().values(
                id=message.id,
                recipient=message.to,
                subject=message.subject,
                text=cipher.seal(message.text, message.id, "text"),
                html=cipher.seal(message.html, message.id, "html"),
                template=message.template.value,
                site_id=None,
                headers={},
                status=item.status.value,
                attempts=0,
                created_at=item.created_at,
                next_attempt_at=item.next_attempt_at,
            )
        )


@pytest.fixture
def database(empty_database_url: str) -> Database:
    return Database(empty_database_url, keys=TEST_KEYS)


def test_0016_sends_mail_queued_before_it_as_it_is_and_queues_data_after_it(database: Database) -> None:
    try:
        database.upgrade("0015")
        assert "data" not in columns(database)
        before = rendered_before()
        add_at_0015(database, before)

        database.upgrade("0016")
        assert "data" in columns(database)
        with database.unit_of_work() as work:
            queued = queue_email(
                work,
                EmailTemplate.PASSWORD_RESET,
                "ana@example.com",
                {"reset_url": "https://app.example.com/portal/reset-password?token=new-live-token"},
                T0,
            )
            work.commit()
        with database.engine.connect() as connection:
            rows = {
                row.id: row
                for row in connection.execute(
                    select(
                        tables.outbox_messages.c.id,
                        tables.outbox_messages.c.data,
                        tables.outbox_messages.c.html,
                    )
                )
            }
        assert rows[before.id].data is None
        assert rows[queued.id].data is not None
        assert rows[queued.id].html == ""

        # Down refused while an unsent message holds data; nothing changed.
        with pytest.raises(RuntimeError, match="not rendered yet"):
            database.downgrade("0015")
        assert "data" in columns(database)

        mailer = FakeMailer()
        relay = OutboxRelay(
            uow=database.unit_of_work,
            mailer=mailer,
            clock=FakeClock(T0 + dt.timedelta(seconds=1)),
            renderer=JinjaEmailRenderer(),
        )
        assert relay.drain().sent == 2
        old, new = sorted(mailer.sent, key=lambda m: m.to, reverse=True)
        assert old == before.message  # sent as rendered before the upgrade, unchanged
        assert new.id == queued.id
        assert "new-live-token" in new.text
        assert "new-live-token" in new.html
        with database.unit_of_work() as work:
            assert {m.status for m in work.outbox.list()} == {OutboxStatus.SENT}

        database.downgrade("0015")  # all sent: nothing unsent holds data
        assert "data" not in columns(database)
        database.upgrade()
        assert "data" in columns(database)
        with database.engine.begin() as connection:
            connection.execute(delete(tables.outbox_messages))
    finally:
        database.dispose()
