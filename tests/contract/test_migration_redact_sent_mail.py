"""Revision 0006 on SQLite and PostgreSQL: messages sent before it lose their bodies (they
held live links), pending and dead ones keep theirs, to be sent; the readiness check's
row exists; down to 0004 and up again."""

from __future__ import annotations

import datetime as dt
import uuid

from contract_support import TEST_KEYS
from sqlalchemy import column, insert, inspect, select
from sqlalchemy import table as sa_table

from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.outbox import REDACTED_HTML, REDACTED_TEXT, OutboxMessage, OutboxStatus

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def queued(status: OutboxStatus) -> OutboxMessage:
    link = "https://app.example.com/portal/reset-password?token=live"
    message = EmailMessage(
        id=uuid.uuid4(),
        to="rosa@example.com",
        subject="Reset your password",
        text=f"Reset it: {link}\n",
        html=f'<a href="{link}">Reset it</a>',
        template=EmailTemplate.PASSWORD_RESET,
    )
    item = OutboxMessage.pending(message, T0)
    item.status, item.sent_at = status, T0 if status is OutboxStatus.SENT else None
    return item


def insert_old(database: Database, item: OutboxMessage) -> None:
    """A row as the code of 0004 wrote it (bodies in plain text, before encryption)."""
    message = item.message
    with database.engine.begin() as connection:
        connection.execute(
            insert(_OLD_OUTBOX).values(
                id=message.id,
                recipient=message.to,
                subject=message.subject,
                text=message.text,
                html=message.html,
                template=message.template.value,
                site_id=message.site_id,
                headers={},
                status=item.status.value,
                attempts=item.attempts,
                created_at=item.created_at,
                next_attempt_at=item.next_attempt_at,
                sent_at=item.sent_at,
            )
        )


# The columns of outbox_messages before revision 0016 (no ``data``).
_OLD_OUTBOX = sa_table(
    "outbox_messages",
    *(
        column(c.name, c.type)
        for c in tables.outbox_messages.columns
        if c.name not in ("seq", "data", "last_error", "claimed_until")
    ),
)


def test_0006_drops_the_bodies_of_messages_already_sent(empty_database_url: str) -> None:
    database = Database(empty_database_url, keys=TEST_KEYS)
    try:
        database.upgrade("0004")
        sent, pending, dead = (
            queued(s) for s in (OutboxStatus.SENT, OutboxStatus.PENDING, OutboxStatus.DEAD)
        )
        for item in (sent, pending, dead):
            insert_old(database, item)

        database.upgrade("0006")

        with database.engine.connect() as connection:
            rows = {
                row.id: row
                for row in connection.execute(
                    select(_OLD_OUTBOX.c.id, _OLD_OUTBOX.c.subject, _OLD_OUTBOX.c.text, _OLD_OUTBOX.c.html)
                )
            }
        assert (rows[sent.id].text, rows[sent.id].html) == (REDACTED_TEXT, REDACTED_HTML)
        assert rows[sent.id].subject == sent.message.subject
        for kept in (pending, dead):
            assert (rows[kept.id].text, rows[kept.id].html) == (kept.message.text, kept.message.html)
        assert database.ready()  # the readiness row is there
        database.downgrade("0004")  # the bodies stay gone; the readiness table goes
        assert "health_checks" not in inspect(database.engine).get_table_names()
        assert database.ready() is False
        database.upgrade()
        assert database.ready()
        # At the head, the repository reads them all (the rendered bodies kept, to send).
        with database.unit_of_work() as work:
            after = work.outbox.get(sent.id)
            assert after is not None
            assert after.redacted
            assert (after.message.subject, after.message.to, after.sent_at) == (
                sent.message.subject,
                sent.message.to,
                T0,
            )
            assert work.outbox.get(pending.id) == pending
            assert work.outbox.get(dead.id) == dead
    finally:
        database.dispose()
