"""The webhooks the sandbox (``sandbox``) signs, and their delivery: over HTTP to the running
app's endpoint as the provider delivers them, or in process to the webhook pipeline (the
``webmagic sandbox ...`` commands use both)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import attrs
import httpx

from webmagic_core.errors import TransientError, ValidationError
from webmagic_core.payments.webhooks import WebhookReceiver, WebhookVerifier

# Where the provider delivers its webhooks, below the public URL (docs/api.md).
WEBHOOK_PATH = "/api/v1/webhooks/recurrente"
DELIVERY_TIMEOUT_SECONDS = 15.0


@attrs.frozen
class SandboxWebhook:
    """A signed delivery, ready to be POSTed to the webhook endpoint."""

    message_id: str
    event_type: str
    headers: Mapping[str, str]
    body: bytes


@attrs.frozen
class Delivery:
    """What became of one delivered webhook."""

    message_id: str
    event_type: str
    status: int | None  # the HTTP status answered; None when the endpoint was not reached
    body: str  # the answer's body, or what went wrong

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def webhook_url(public_url: str) -> str:
    """The app's webhook endpoint below its public URL (``WEBMAGIC_PUBLIC_URL``)."""
    return public_url.rstrip("/") + WEBHOOK_PATH


def deliver_over_http(
    webhooks: Iterable[SandboxWebhook],
    url: str,
    *,
    timeout: float = DELIVERY_TIMEOUT_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> list[Delivery]:
    """POST each webhook, in order, to ``url`` (``webhook_url(public_url)``: the running
    app, through whatever proxy fronts it), as the provider does. Stops after the first one
    that is not accepted: the list holds the attempted ones only. The provider would
    retry a refused delivery; here, run the simulation's sync (``webmagic subscriptions
    sync``) or deliver again."""
    results: list[Delivery] = []
    with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client:
        for webhook in webhooks:
            try:
                response = client.post(url, content=webhook.body, headers=dict(webhook.headers))
            except httpx.HTTPError as error:
                results.append(
                    Delivery(webhook.message_id, webhook.event_type, None, f"{type(error).__name__}: {error}")
                )
                break
            results.append(
                Delivery(webhook.message_id, webhook.event_type, response.status_code, response.text)
            )
            if not results[-1].accepted:
                break
    return results


def deliver_in_process(
    webhooks: Iterable[SandboxWebhook], verifier: WebhookVerifier, service: WebhookReceiver
) -> list[Delivery]:
    """Hand each webhook, in order, to the webhook pipeline in this process (no server
    needed): verified like a delivery over HTTP, then ``WebhookService.receive``. The
    statuses are those the endpoint would answer (200, 400 refused, 503 transient).
    Stops after the first one that is not accepted."""
    results: list[Delivery] = []
    for webhook in webhooks:
        try:
            outcome = service.receive(verifier.verify(webhook.headers, webhook.body))
        except ValidationError as error:  # a bad signature, an unreadable body
            delivery = Delivery(webhook.message_id, webhook.event_type, 400, error.detail)
        except TransientError as error:
            delivery = Delivery(webhook.message_id, webhook.event_type, 503, error.detail)
        else:
            answer = json.dumps({"status": outcome.answer})
            delivery = Delivery(webhook.message_id, webhook.event_type, 200, answer)
        results.append(delivery)
        if not delivery.accepted:
            break
    return results
