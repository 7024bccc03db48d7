"""OutboxRepository on SQLAlchemy Core, with a claim that several relays can race on.

The bodies of queued mail are encrypted at rest (``webmagic_adapters.body_cipher``): sealed
when written, opened when read, so the core sees plain ``EmailMessage``s. A body that no
key opens any more is never sent: the claim buries its message (dead, with a reason).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Update, bindparam, func, or_, select, update

from webmagic_adapters.body_cipher import BodyCipher, UnreadableBody
from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.repositories import (
    AnyRow,
    Insertion,
    Lookup,
    SqlAlchemyRepository,
    entity_columns,
    updating,
)
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.outbox import REDACTED_HTML, REDACTED_TEXT, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

_outbox = t.outbox_messages
_COLUMNS = entity_columns(_outbox)
_INSERT = Insertion(_outbox)
_BY_ID = Lookup(select(*_COLUMNS).where(_outbox.c.id == bindparam("id")))
# ``save``'s UPDATE, built once for each set of body columns ``_seal`` may write.
_STATE = ("status", "attempts", "next_attempt_at", "sent_at", "last_error", "claimed_until")
_SAVES: dict[tuple[str, ...], Update] = {
    bodies: updating(_outbox, _outbox.c.id, (*bodies, *_STATE))
    for bodies in ((), ("text",), ("html",), ("text", "html"))
}

# What a message whose bodies no key opens reads as (``outbox show``; never sent). Saving
# such a message leaves its stored bodies alone: restoring the key makes them sendable again.
UNREADABLE_TEXT = "[body unreadable: encrypted with a secret key this server no longer has]"
UNREADABLE_HTML = "<p>[body unreadable: encrypted with a secret key this server no longer has]</p>"
UNREADABLE_REASON = (
    "the body cannot be decrypted: it was encrypted with a secret key this server no longer has "
    "(restore it as WEBMAGIC_SECRET_KEY_PREVIOUS and retry the message, or send a new link)"
)
# Bodies that hold nothing secret stay readable without a key.
_PLAIN_BODIES = frozenset({REDACTED_TEXT, REDACTED_HTML})


def _seal(cipher: BodyCipher, message_id: uuid.UUID, text: str, html: str) -> dict[str, Any]:
    """The body columns to write: sealed, except placeholders with nothing secret in them;
    an unreadable body is not written at all (its stored value stays as it is)."""
    values: dict[str, Any] = {}
    for column, body, unreadable in (("text", text, UNREADABLE_TEXT), ("html", html, UNREADABLE_HTML)):
        if body != unreadable:
            values[column] = body if body in _PLAIN_BODIES else cipher.seal(body, message_id, column)
    return values


def _bodies(cipher: BodyCipher, row: AnyRow) -> tuple[str, str, bool]:
    """(text, html, stale) of a row; raises ``UnreadableBody``."""
    text, html = cipher.open(row.text, row.id, "text"), cipher.open(row.html, row.id, "html")
    return text.text, html.text, text.stale or html.stale


def _message(row: AnyRow, cipher: BodyCipher) -> OutboxMessage:
    try:
        text, html, _ = _bodies(cipher, row)
    except UnreadableBody:
        text, html = UNREADABLE_TEXT, UNREADABLE_HTML
    return OutboxMessage(
        message=EmailMessage(
            id=row.id,
            to=row.recipient,
            subject=row.subject,
            text=text,
            html=html,
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
    def __init__(self, connection: Callable[[], Connection], cipher: BodyCipher) -> None:
        super().__init__(connection)
        self._cipher = cipher

    def add(self, item: OutboxMessage) -> None:
        message = item.message
        self._insert_unique(
            _INSERT,
            f"outbox message {item.id} exists",
            {
                "id": message.id,
                "recipient": message.to,
                "subject": message.subject,
                # A message added unreadable (a copy of one) keeps its placeholder.
                "text": message.text,
                "html": message.html,
                **_seal(self._cipher, message.id, message.text, message.html),
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

    def get(self, message_id: uuid.UUID, *, for_update: bool = False) -> OutboxMessage | None:
        row = self._lookup(_BY_ID, {"id": message_id}, for_update=for_update).first()
        return _message(row, self._cipher) if row is not None else None

    def save(self, item: OutboxMessage) -> None:
        # The bodies are sealed afresh, with the current key: a body stored plain or with
        # the previous key is re-encrypted the first time its message is saved.
        bodies = _seal(self._cipher, item.id, item.message.text, item.message.html)
        result = self._write(
            _SAVES[tuple(bodies)],
            {
                "_key": item.id,
                **bodies,
                "status": item.status.value,
                "attempts": item.attempts,
                "next_attempt_at": item.next_attempt_at,
                "sent_at": item.sent_at,
                "last_error": item.last_error,
                "claimed_until": item.claimed_until,
            },
        )
        if result.rowcount == 0:
            raise LookupError(f"outbox message {item.id} was never added")

    def claim_due(self, now: dt.datetime, *, limit: int, lease: dt.timedelta) -> Sequence[OutboxMessage]:
        if limit <= 0:
            return []
        # Without a key every sealed body would look lost and be buried: refuse instead.
        self._cipher.require_key()
        # SQLite: the write lock first, so no other relay reads the same rows before this
        # transaction marks them. PostgreSQL: row locks, and rows another relay is
        # claiming right now are skipped rather than waited for (and re-checked against
        # the WHERE clause if that relay has committed a claim meanwhile).
        self._begin_for_write()
        if self._cipher.claim_sweep():
            try:
                self._reseal_stale()
            except BaseException:
                self._cipher.sweep_failed()
                raise
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
        readable, unreadable = [], []
        for row in rows:
            try:
                _bodies(self._cipher, row)
            except UnreadableBody:
                unreadable.append(row)
            else:
                readable.append(row)
        if unreadable:
            self._bury_unreadable(unreadable)
        if not readable:
            return []
        until = now + lease
        self._execute(
            update(_outbox)
            .where(_outbox.c.seq.in_([row.seq for row in readable]))
            .values(claimed_until=until)
        )
        claimed = [_message(row, self._cipher) for row in readable]
        for item in claimed:
            item.claimed_until = until
        return claimed

    def _bury_unreadable(self, rows: Sequence[AnyRow]) -> None:
        """Dead, with a reason, and never sent: sending the placeholder would be worse
        than useless. ``outbox retry`` tries again (after the key is restored)."""
        self._execute(
            update(_outbox)
            .where(_outbox.c.seq.in_([row.seq for row in rows]))
            .values(status=OutboxStatus.DEAD.value, claimed_until=None, last_error=UNREADABLE_REASON)
        )
        for row in rows:
            log.warning("outbox message %s to %s is dead: %s", row.id, row.recipient, UNREADABLE_REASON)

    def _reseal_stale(self) -> None:
        """Encrypt with the current key the bodies of pending and dead mail stored plain
        (written before encryption) or with the previous key (a rotation): run by the
        first claim of a process, so a rotation needs no step of its own."""
        rows = self._execute(
            select(_outbox.c.seq, _outbox.c.id, _outbox.c.text, _outbox.c.html).where(
                _outbox.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.DEAD.value])
            )
        ).all()
        resealed = 0
        for row in rows:
            try:
                text, html, stale = _bodies(self._cipher, row)
            except UnreadableBody:
                continue  # buried when claimed; left as it is, in case the key comes back
            if not stale:
                continue
            values = _seal(self._cipher, row.id, text, html)
            # Only if nobody changed the bodies meanwhile (a relay that has just sent it).
            result = self._execute(
                update(_outbox)
                .where(_outbox.c.seq == row.seq, _outbox.c.text == row.text, _outbox.c.html == row.html)
                .values(**values)
            )
            resealed += result.rowcount
        if resealed:
            log.info("outbox: encrypted %d queued message(s) with the current secret key", resealed)

    def list(self, *, status: OutboxStatus | None = None, limit: int = 100) -> Sequence[OutboxMessage]:
        where = () if status is None else (_outbox.c.status == status.value,)
        return [
            _message(row, self._cipher) for row in self._newest(_outbox, _outbox.c.created_at, limit, *where)
        ]

    def for_site(self, site_id: uuid.UUID) -> Sequence[OutboxMessage]:
        return [
            _message(row, self._cipher)
            for row in self._oldest(_outbox, _outbox.c.created_at, _outbox.c.site_id == site_id)
        ]

    def count_by_status(self) -> dict[OutboxStatus, int]:
        query = select(_outbox.c.status, func.count()).group_by(_outbox.c.status)
        return {OutboxStatus(row[0]): int(row[1]) for row in self._execute(query)}
