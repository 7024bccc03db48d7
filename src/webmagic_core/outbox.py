"""The outbox: emails written in the same transaction as the change that causes them,
sent afterwards by a relay, retried with backoff, and never lost."""

from __future__ import annotations

import datetime as dt
import enum
import random
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from webmagic_core.accounts.emails import EmailMessage, EmailTemplate

if TYPE_CHECKING:
    from webmagic_core.accounts.ports import EmailRenderer

DEFAULT_MAX_ATTEMPTS = 8
# A transient failure is retried at least this long (and at least DEFAULT_MAX_ATTEMPTS
# times): a mail server down for a weekend, or a password being fixed, loses nothing.
RETRY_WINDOW = dt.timedelta(hours=48)
BASE_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=6)


# What a sent message keeps of its bodies: they held live single-use links (set-password,
# reset, verify), and a sent message is never sent again. Template, recipient, subject
# (as rendered when sent), times and Message-ID (the id) stay for the operator; the data a
# message was queued with goes too (it held the same links).
REDACTED_TEXT = "[body removed once sent: it held single-use links]"
REDACTED_HTML = "<p>[body removed once sent: it held single-use links]</p>"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


@attrs.define
class OutboxMessage:
    """A queued email. Mail is queued as its template and ``data`` (checked, not rendered:
    rendering is the relay's work, done after the transaction that queued it, just before
    sending); ``message`` then holds the envelope (id, recipient, template, site) with an
    empty subject and empty bodies until it is sent. Mail queued before that (rendered in
    the transaction) has no ``data`` and is sent as it is."""

    message: EmailMessage
    status: OutboxStatus
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None = None
    last_error: str | None = None
    # Set while a relay holds the message; other relays skip it until it passes.
    claimed_until: dt.datetime | None = None
    # The template's data while not rendered (``None`` for a rendered or sent message).
    data: Mapping[str, object] | None = None

    @property
    def id(self) -> uuid.UUID:
        return self.message.id

    @property
    def rendered(self) -> bool:
        return self.data is None

    def render(self, renderer: EmailRenderer) -> EmailMessage:
        """The message to send: rendered from its data now, with the id (Message-ID) it was
        queued with; a message queued rendered, as it is. Raises what the renderer raises."""
        if self.data is None:
            return self.message
        message = self.message
        rendered = renderer.render(message.template, message.to, self.data, site_id=message.site_id)
        return attrs.evolve(rendered, id=message.id, headers=message.headers)

    @property
    def redacted(self) -> bool:
        return self.message.text == REDACTED_TEXT and self.message.html == REDACTED_HTML

    def mark_sent(self, now: dt.datetime, *, subject: str | None = None) -> None:
        """Delivered: recorded as sent with the ``subject`` it was sent with, its data and
        bodies dropped (see ``REDACTED_TEXT``)."""
        self.status, self.sent_at, self.claimed_until = OutboxStatus.SENT, now, None
        self.message = attrs.evolve(
            self.message,
            subject=self.message.subject if subject is None else subject,
            text=REDACTED_TEXT,
            html=REDACTED_HTML,
        )
        self.data = None

    @classmethod
    def pending(cls, message: EmailMessage, now: dt.datetime) -> OutboxMessage:
        """A rendered message, due now."""
        return cls(
            message=message, status=OutboxStatus.PENDING, attempts=0, created_at=now, next_attempt_at=now
        )

    @classmethod
    def unrendered(
        cls,
        template: EmailTemplate,
        to: str,
        data: Mapping[str, object],
        now: dt.datetime,
        *,
        site_id: uuid.UUID | None = None,
    ) -> OutboxMessage:
        """A message to render from ``data`` when sent, due now; its id is fixed here."""
        envelope = EmailMessage(
            id=uuid.uuid4(), to=to, subject="", text="", html="", template=template, site_id=site_id
        )
        item = cls.pending(envelope, now)
        item.data = dict(data)
        return item


def backoff(attempts: int, *, rng: random.Random | None = None) -> dt.timedelta:
    """Exponential backoff with full jitter after ``attempts`` failed sends (1, 2, ...)."""
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * (1 << min(30, max(0, attempts - 1))))
    fraction = rng.uniform(0.5, 1.0) if rng is not None else random.uniform(0.5, 1.0)
    return ceiling * fraction
