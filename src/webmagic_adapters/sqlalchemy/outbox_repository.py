"""OutboxRepository on SQLAlchemy Core, with a claim that several relays can race on.

The bodies of queued mail, and the data of mail queued to be rendered when sent (JSON by
the template's field kinds, ``encode_data``), are encrypted at rest
(``webmagic_adapters.body_cipher``): sealed when written, opened when read, so the core
sees plain ``EmailMessage``s and data. A body or data that no key opens any more is never
sent: the claim buries its message (dead, with a reason).
"""

from __future__ import annotations

import datetime as dt
import itertools
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
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate, decode_data, encode_data
from webmagic_core.accounts.errors import EmailDataError
from webmagic_core.outbox import REDACTED_HTML, REDACTED_TEXT, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

_outbox = t.outbox_messages
_COLUMNS = entity_columns(_outbox)
_INSERT = Insertion(_outbox)
_BY_ID = Lookup(select(*_COLUMNS).where(_outbox.c.id == bindparam("id")))
# ``save``'s UPDATE, built once for each set of sealed columns ``_seal`` may write.
_STATE = ("subject", "status", "attempts", "next_attempt_at", "sent_at", "last_error", "claimed_until")
_SEALED = ("text", "html", "data")
_SAVES: dict[tuple[str, ...], Update] = {
    sealed: updating(_outbox, _outbox.c.id, (*sealed, *_STATE))
    for size in range(len(_SEALED) + 1)
    for sealed in itertools.combinations(_SEALED, size)
}

# What a message whose bodies no key opens reads as (``outbox show``; never sent). Saving
# such a message leaves its stored bodies alone: restoring the key makes them sendable again.
UNREADABLE_TEXT = "[body unreadable: encrypted with a secret key this server no longer has]"
UNREADABLE_HTML = "<p>[body unreadable: encrypted with a secret key this server no longer has]</p>"
UNREADABLE_REASON = (
    "the body cannot be decrypted: it was encrypted with a secret key this server no longer has "
    "(restore it as WEBMAGIC_SECRET_KEY_PREVIOUS and retry the message, or send a new link)"
)
# Values that hold nothing secret stay readable without a key: the placeholders of a sent
# message, and the empty bodies of one not rendered yet.
_PLAIN_BODIES = frozenset({REDACTED_TEXT, REDACTED_HTML, ""})


def _seal(cipher: BodyCipher, item: OutboxMessage) -> dict[str, Any]:
    """The sealed columns to write: sealed, except bodies with nothing secret in them, and
    NULL data for a rendered or sent message; nothing of an unreadable message (its stored
    values stay as they are, in case the key comes back)."""
    message = item.message
    values: dict[str, Any] = {}
    if message.text == UNREADABLE_TEXT or message.html == UNREADABLE_HTML:
        return values
    for column, body in (("text", message.text), ("html", message.html)):
        values[column] = body if body in _PLAIN_BODIES else cipher.seal(body, message.id, column)
    if item.data is None:
        values["data"] = None
    else:
        values["data"] = cipher.seal(encode_data(message.template, item.data), message.id, "data")
    return values


def _open(cipher: BodyCipher, row: AnyRow) -> tuple[str, str, str | None, bool]:
    """(text, html, data as JSON or None, stale) of a row; raises ``UnreadableBody``. Stale:
    something secret is stored plain or under the previous key (to seal again)."""
    stale = False
    opened: list[str | None] = []
    for column in _SEALED:
        stored = getattr(row, column)
        if stored is None:
            opened.append(None)
            continue
        value = cipher.open(stored, row.id, column)
        stale = stale or (value.stale and stored not in _PLAIN_BODIES)
        opened.append(value.text)
    text, html, data = opened
    return text or "", html or "", data, stale


def _message(row: AnyRow, cipher: BodyCipher, *, strict: bool = False) -> OutboxMessage:
    """The message of a row. A body or data that does not open reads as the ``UNREADABLE_``
    placeholders, or raises ``UnreadableBody`` if ``strict``."""
    template = EmailTemplate(row.template)
    try:
        text, html, encoded, _ = _open(cipher, row)
        try:
            # Not strict: data that no longer fits its template reaches the relay, whose
            # renderer refuses it (the message goes dead with the reason, see OutboxRelay).
            data = None if encoded is None else decode_data(template, encoded, strict=False)
        except EmailDataError as error:
            raise UnreadableBody(str(error)) from None
    except UnreadableBody:
        if strict:
            raise
        text, html, data = UNREADABLE_TEXT, UNREADABLE_HTML, None
    return OutboxMessage(
        message=EmailMessage(
            id=row.id,
            to=row.recipient,
            subject=row.subject,
            text=text,
            html=html,
            template=template,
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
        data=data,
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
                "data": None,
                **_seal(self._cipher, item),
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
        # The bodies and data are sealed afresh, with the current key: a value stored plain
        # or with the previous key is re-encrypted the first time its message is saved.
        sealed = _seal(self._cipher, item)
        result = self._write(
            _SAVES[tuple(sealed)],
            {
                "_key": item.id,
                **sealed,
                "subject": item.message.subject,
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
        readable: list[tuple[AnyRow, OutboxMessage]] = []
        unreadable = []
        for row in rows:
            try:
                readable.append((row, _message(row, self._cipher, strict=True)))
            except UnreadableBody:
                unreadable.append(row)
        if unreadable:
            self._bury_unreadable(unreadable)
        if not readable:
            return []
        until = now + lease
        self._execute(
            update(_outbox)
            .where(_outbox.c.seq.in_([row.seq for row, _ in readable]))
            .values(claimed_until=until)
        )
        claimed = [item for _, item in readable]
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
        """Encrypt with the current key the bodies and data of pending and dead mail stored
        plain (written before encryption) or with the previous key (a rotation): run by the
        first claim of a process, so a rotation needs no step of its own."""
        rows = self._execute(
            select(_outbox.c.seq, _outbox.c.id, _outbox.c.text, _outbox.c.html, _outbox.c.data).where(
                _outbox.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.DEAD.value])
            )
        ).all()
        resealed = 0
        for row in rows:
            try:
                text, html, data, stale = _open(self._cipher, row)
            except UnreadableBody:
                continue  # buried when claimed; left as it is, in case the key comes back
            if not stale:
                continue
            values = {
                column: value
                if value is None or value in _PLAIN_BODIES
                else self._cipher.seal(value, row.id, column)
                for column, value in (("text", text), ("html", html), ("data", data))
            }
            # Only if nobody changed them meanwhile (a relay that has just sent it).
            result = self._execute(
                update(_outbox)
                .where(
                    _outbox.c.seq == row.seq,
                    _outbox.c.text == row.text,
                    _outbox.c.html == row.html,
                    _outbox.c.data.is_not_distinct_from(row.data),
                )
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
