"""``POST /api/v1/webhooks/recurrente``: Svix-signed deliveries from the payment provider.

The signature is checked over the raw body bytes, exactly as received (before anything
parses them); then ``WebhookService.receive`` stores the event and applies it in one
transaction. Answers (docs/api.md):

- 200 ``{"status": "processed" | "duplicate" | "ignored"}``;
- 400 for missing headers, a bad or stale signature, or a body that is not a JSON object
  (nothing is stored);
- 503 with ``Retry-After`` for a transient fault (database busy, a concurrent change), so
  the provider delivers again.

The handler is synchronous (database work) and runs in the thread pool, never on the
event loop: the sandbox checkout page delivers its webhooks to this endpoint from a
handler of the same server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Request, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import RawBody

from webmagic_core.payments.webhooks import WebhookVerifier
from webmagic_core.services.webhooks import WebhookService
from webmagic_http.common import WEBHOOK_PATH
from webmagic_http.problems import problem_spec

# Recurrente's events are a few kilobytes; anything far larger is not one of them.
MAX_BODY_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    status: str  # processed | duplicate | ignored


def webhook_routes(verifier: WebhookVerifier, webhooks: WebhookService) -> Sequence[HTTPRouteHandler]:
    @post(
        WEBHOOK_PATH,
        status_code=200,
        sync_to_thread=True,
        request_max_body_size=MAX_BODY_BYTES,
        tags=["webhooks"],
        summary="Receive a Svix-signed Recurrente event",
        description="Verified over the raw body (svix-* or webhook-* headers, ±300 s), stored once "
        "per message id and applied in the same transaction.",
        responses={
            400: problem_spec("Missing or bad signature headers, a stale timestamp, or an unreadable body"),
            503: problem_spec("A transient fault: deliver again later (see Retry-After)"),
        },
    )
    def recurrente(request: Request[Any, Any, Any], body: RawBody) -> WebhookAnswer:
        verified = verifier.verify(dict(request.headers.items()), body)
        return WebhookAnswer(status=webhooks.receive(verified).answer)

    return [recurrente]
