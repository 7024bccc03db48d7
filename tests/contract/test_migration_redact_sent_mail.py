"""Revision 0006 on SQLite and PostgreSQL: messages sent before it lose their bodies (they
held live links), pending and dead ones keep theirs, to be sent; the readiness check's
row exists; down to 0004 and up again."""

from __future__ import annotations

import datetime as dt
import uuid

from contract_support import TEST_KEYS
from sqlalchemy import inspect

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


def test_0006_drops_the_bodies_of_messages_already_sent(empty_database_url: str) -> None:
    database = Database(empty_database_url, keys=TEST_KEYS)
    try:
        database.upgrade("0004")
        sent, pending, dead = (
            queued(s) for s in (OutboxStatus.SENT, OutboxStatus.PENDING, OutboxStatus.DEAD)
        )
        with database.unit_of_work() as work:
            for item in (sent, pending, dead):
                work.outbox.add(item)
            work.commit()

        database.upgrade("0006")

        with database.unit_of_work() as work:
            after = work.outbox.get(sent.id)
            assert after is not None
            assert (after.message.text, after.message.html) == (REDACTED_TEXT, REDACTED_HTML)
            assert after.redacted
            assert (after.message.subject, after.message.to, after.sent_at) == (
                sent.message.subject,
                sent.message.to,
                T0,
            )
            assert work.outbox.get(pending.id) == pending
            assert work.outbox.get(dead.id) == dead
        assert database.ready()  # the readiness row is there
        database.downgrade("0004")  # the bodies stay gone; the readiness table goes
        assert "health_checks" not in inspect(database.engine).get_table_names()
        assert database.ready() is False
        database.upgrade()
        assert database.ready()
    finally:
        database.dispose()
