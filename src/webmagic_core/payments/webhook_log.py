"""The log of received webhooks: every verified delivery, kept with its raw body.

``id`` is the provider's message id (``svix-id``), stable across retries: storing it
under a unique key is what makes a repeated delivery a no-op. ``site_id`` and
``purchase_id`` say what the event touched, for the site's timeline.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import attrs

MAX_ERROR_LENGTH = 500


class WebhookOutcome(enum.StrEnum):
    PROCESSED = "processed"  # applied, or already reflected in the state (idempotent)
    DUPLICATE = "duplicate"  # this message id was received before: nothing was done
    IGNORED = "ignored"  # a type WebMagic does not act on, or nothing to act on; stored
    ANOMALY = "anomaly"  # did not fit: recorded as an anomaly for an operator

    @property
    def answer(self) -> str:
        """The ``status`` the provider is told (docs/api.md: processed | duplicate | ignored).
        An anomaly was received and recorded: retrying would not change it."""
        return WebhookOutcome.PROCESSED.value if self is WebhookOutcome.ANOMALY else self.value


def _error(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


@attrs.define
class WebhookEvent:
    id: str
    event_type: str  # as sent ("" when the body named none)
    body: str  # the raw body, as received (UTF-8)
    received_at: dt.datetime
    processed_at: dt.datetime | None = None
    outcome: WebhookOutcome | None = None
    error: str | None = None  # why it was ignored or is an anomaly
    site_id: uuid.UUID | None = None
    purchase_id: uuid.UUID | None = None

    def record(
        self,
        outcome: WebhookOutcome,
        now: dt.datetime,
        *,
        error: str | None = None,
        site_id: uuid.UUID | None = None,
        purchase_id: uuid.UUID | None = None,
    ) -> None:
        """Set the outcome of (the latest) processing; what it touched is kept from earlier runs."""
        self.outcome, self.processed_at, self.error = outcome, now, _error(error)
        self.site_id = site_id or self.site_id
        self.purchase_id = purchase_id or self.purchase_id
