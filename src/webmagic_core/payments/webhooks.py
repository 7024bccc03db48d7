"""Webhook verification (Svix scheme) as a port, and what a verified delivery carries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Protocol

import attrs

from webmagic_core.errors import ValidationError
from webmagic_core.payments.webhook_log import WebhookOutcome


class InvalidSignature(ValidationError):
    """Missing headers, a bad or stale signature: the delivery is refused (400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="signature")


@attrs.frozen
class VerifiedWebhook:
    """A delivery whose signature checked out over exactly ``body``."""

    message_id: str  # svix-id / webhook-id: the idempotency key, stable across retries
    timestamp: dt.datetime
    body: bytes


class WebhookVerifier(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedWebhook:
        """Check the signature over the raw ``body``. ``headers`` are matched
        case-insensitively; raises ``InvalidSignature`` naming what is wrong (never the
        secret or the expected signature)."""
        ...


class WebhookSigner(Protocol):
    """Signs deliveries the way the provider does (the sandbox gateway and tests use it)."""

    def sign(self, message_id: str, timestamp: dt.datetime, body: bytes) -> Mapping[str, str]:
        """The headers to send with ``body``."""
        ...


class WebhookReceiver(Protocol):
    """What takes a verified delivery in (``services.webhooks.WebhookService``): the port a
    driven adapter (the sandbox delivering in-process) needs instead of the service."""

    def receive(self, webhook: VerifiedWebhook) -> WebhookOutcome: ...
