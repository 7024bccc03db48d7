"""The outbox: emails written in the same transaction as the change that causes them,
sent afterwards by a relay, retried with backoff, and never lost."""

from __future__ import annotations

import datetime as dt
import enum
import random
import uuid

import attrs

from webmagic_core.accounts.emails import EmailMessage

DEFAULT_MAX_ATTEMPTS = 8
# A transient failure is retried at least this long (and at least DEFAULT_MAX_ATTEMPTS
# times): a mail server down for a weekend, or a password being fixed, loses nothing.
RETRY_WINDOW = dt.timedelta(hours=48)
BASE_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=6)


# What a sent message keeps of its bodies: they held live single-use links (set-password,
# reset, verify), and a sent message is never sent again. Template, recipient, subject,
# times and Message-ID (the id) stay for the operator.
REDACTED_TEXT = "[body removed once sent: it held single-use links]"
REDACTED_HTML = "<p>[body removed once sent: it held single-use links]</p>"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


@attrs.define
class OutboxMessage:
    message: EmailMessage
    status: OutboxStatus
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None = None
    last_error: str | None = None
    # Set while a relay holds the message; other relays skip it until it passes.
    claimed_until: dt.datetime | None = None

    @property
    def id(self) -> uuid.UUID:
        return self.message.id

    @property
    def redacted(self) -> bool:
        return self.message.text == REDACTED_TEXT and self.message.html == REDACTED_HTML

    def mark_sent(self, now: dt.datetime) -> None:
        """Delivered: recorded as sent, and its bodies dropped (see ``REDACTED_TEXT``)."""
        self.status, self.sent_at, self.claimed_until = OutboxStatus.SENT, now, None
        self.message = attrs.evolve(self.message, text=REDACTED_TEXT, html=REDACTED_HTML)

    @classmethod
    def pending(cls, message: EmailMessage, now: dt.datetime) -> OutboxMessage:
        return cls(
            message=message, status=OutboxStatus.PENDING, attempts=0, created_at=now, next_attempt_at=now
        )


def backoff(attempts: int, *, rng: random.Random | None = None) -> dt.timedelta:
    """Exponential backoff with full jitter after ``attempts`` failed sends (1, 2, ...)."""
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * (1 << min(30, max(0, attempts - 1))))
    fraction = rng.uniform(0.5, 1.0) if rng is not None else random.uniform(0.5, 1.0)
    return ceiling * fraction
