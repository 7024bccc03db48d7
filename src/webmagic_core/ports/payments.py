"""Payments: the provider's API (checkouts, subscriptions, refunds), its webhooks, and the
translation of what it sends into the core's payment events."""

from __future__ import annotations

from typing import Protocol

from webmagic_core.payments.events import PaymentEvent
from webmagic_core.payments.gateway import PaymentGateway
from webmagic_core.payments.webhooks import WebhookReceiver, WebhookSigner, WebhookVerifier


class PaymentEventTranslator(Protocol):
    """Reads a provider's verified webhook body as one of the core's payment events."""

    def translate(self, body: bytes) -> PaymentEvent:
        """``UnreadableWebhook`` when ``body`` is not a JSON object (nothing is stored);
        ``MalformedEvent`` when it lacks what its kind of event needs (stored as an
        anomaly)."""
        ...


__all__ = ["PaymentEventTranslator", "PaymentGateway", "WebhookReceiver", "WebhookSigner", "WebhookVerifier"]
