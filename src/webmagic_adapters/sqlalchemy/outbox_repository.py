"""OutboxRepository on SQLAlchemy Core, with a claim that several relays can race on."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, or_, select, update

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.repositories import AnyRow, Insertion, SqlAlchemyRepository, entity_columns
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.outbox import OutboxMessage, OutboxStatus

_outbox = t.outbox_messages
_COLUMNS = entity_columns(_outbox)
_INSERT = Insertion(_outbox)


def _message(row: AnyRow) -> OutboxMessage:
    return OutboxMessage(
        message=EmailMessage(
            id=row.id,
            to=row.recipient,
            subject=row.subject,
            text=row.text,
            html=row.html,
            template=EmailTemplate(row.template),
            site_id=row.site_id,
            headers=dict(row.headers),
        ),
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
        claimed_until=row.claimed_until,
    )


class SqlAlchemyOutboxRepository(SqlAlchemyRepository):
    def add(self, item: OutboxMessage) -> None:
        message = item.message
        self._insert_unique(
            _INSERT,
            f"outbox message {item.id} exists",
            {
                "id": message.id,
                "recipient": message.to,
                "subject": message.subject,
                "text": message.text,
                "html": message.html,
                "template": message.template.value,
                "site_id": message.site_id,
                "headers": dict(message.headers),
                "status": item.status.value,
                "attempts": item.attempts,
                "created_at": item.created_at,
                "next_attempt_at": item.next_attempt_at,
                "sent_at": item.sent_at,
                "last_error": item.last_error,
                "claimed_until": item.claimed_until,
            },
        )

    def get(self, message_id: uuid.UUID) -> OutboxMessage | None:
        row = self._execute(select(*_COLUMNS).where(_outbox.c.id == message_id)).first()
        return _message(row) if row is not None else None

    def save(self, item: OutboxMessage) -> None:
        result = self._write(
            update(_outbox)
            .where(_outbox.c.id == item.id)
            .values(
                text=item.message.text,
                html=item.message.html,
                status=item.status.value,
                attempts=item.attempts,
                next_attempt_at=item.next_attempt_at,
                sent_at=item.sent_at,
                last_error=item.last_error,
                claimed_until=item.claimed_until,
            )
        )
        if result.rowcount == 0:
            raise LookupError(f"outbox message {item.id} was never added")

    def claim_due(self, now: dt.datetime, *, limit: int, lease: dt.timedelta) -> Sequence[OutboxMessage]:
        if limit <= 0:
            return []
        # SQLite: the write lock first, so no other relay reads the same rows before this
        # transaction marks them. PostgreSQL: row locks, and rows another relay is
        # claiming right now are skipped rather than waited for (and re-checked against
        # the WHERE clause if that relay has committed a claim meanwhile).
        self._begin_for_write()
        query = (
            select(_outbox.c.seq, *_COLUMNS)
            .where(
                _outbox.c.status == OutboxStatus.PENDING.value,
                _outbox.c.next_attempt_at <= now,
                or_(_outbox.c.claimed_until.is_(None), _outbox.c.claimed_until <= now),
            )
            .order_by(_outbox.c.created_at, _outbox.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = self._execute(query).all()
        if not rows:
            return []
        until = now + lease
        self._execute(
            update(_outbox).where(_outbox.c.seq.in_([row.seq for row in rows])).values(claimed_until=until)
        )
        claimed = [_message(row) for row in rows]
        for item in claimed:
            item.claimed_until = until
        return claimed

    def list(self, *, status: OutboxStatus | None = None, limit: int = 100) -> Sequence[OutboxMessage]:
        where = () if status is None else (_outbox.c.status == status.value,)
        return [_message(row) for row in self._newest(_outbox, _outbox.c.created_at, limit, *where)]

    def for_site(self, site_id: uuid.UUID) -> Sequence[OutboxMessage]:
        return [
            _message(row) for row in self._oldest(_outbox, _outbox.c.created_at, _outbox.c.site_id == site_id)
        ]

    def count_by_status(self) -> dict[OutboxStatus, int]:
        query = select(_outbox.c.status, func.count()).group_by(_outbox.c.status)
        return {OutboxStatus(row[0]): int(row[1]) for row in self._execute(query)}
