"""``POST /api/v1/webhooks/recurrente``: Svix-signed deliveries from the payment provider.

The signature is checked over the raw body bytes, exactly as received (before anything
parses them); then ``WebhookService.receive`` stores the event and applies it in one
transaction. Answers (docs/api.md):

- 200 ``{"status": "processed" | "duplicate" | "ignored"}``;
- 400 for missing headers, a bad or stale signature, or a body that is not a JSON object
  (nothing is stored);
- 503 with ``Retry-After`` for a transient fault (database busy, a concurrent change), so
  the provider delivers again.

The work is synchronous (database) and runs in a worker thread, never on the event
loop: the sandbox checkout page delivers its webhooks to this endpoint from a handler of
the same server.

A delivery to one of our own host names is answered in front of Litestar by
``WebhookFastPath`` (a webhook burst is the payments' hot path, and Litestar's
per-request machinery cost a third of a delivery's CPU): the body read, the same
``answer_webhook``, a 200 sent straight to ASGI. Anything else -- a body over the limit,
and any failure (a bad signature, a busy database) -- is handed to the Litestar route with
the body as read, which answers it exactly as it always has (its problem documents, its
logging); a failure of ``receive`` is not tried twice: the route re-raises it. The fast
path counts every answer, its own and the route's, in ``webmagic_webhook_responses_total``
by status; the route is left out of the generic request metrics, as hosting is (so a
delivery to a host that is not ours, never the provider's, is not counted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anyio.to_thread
from litestar import Request, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import RawBody
from litestar.types import (
    HTTPReceiveMessage,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Message,
    Receive,
    Send,
)
from prometheus_client import Counter

from webmagic_core.payments.webhooks import WebhookVerifier
from webmagic_core.services.webhooks import WebhookService
from webmagic_http.common import WEBHOOK_PATH
from webmagic_http.hosting_counter import PREFIX, SKIP_REQUEST_METRICS, StatusCounter
from webmagic_http.hosts import request_host
from webmagic_http.problems import problem_spec

# Recurrente's events are a few kilobytes; anything far larger is not one of them.
MAX_BODY_BYTES = 512 * 1024
# Where the fast path leaves a failure of ``receive`` for the route to raise (not retry).
FAILED = "webmagic.webhook_failure"

WEBHOOK_RESPONSES = Counter(
    f"{PREFIX}_webhook_responses",
    "Answers to the payment provider's webhook deliveries, by status",
    ["status"],
)
count_webhook = StatusCounter(WEBHOOK_RESPONSES)


def answer_webhook(
    verifier: WebhookVerifier, webhooks: WebhookService, headers: Mapping[str, str], body: bytes
) -> str:
    """Verify a delivery over its raw body, then store and apply it; what to answer."""
    return webhooks.receive(verifier.verify(headers, body)).answer


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
        opt={SKIP_REQUEST_METRICS: True},  # counted in WEBHOOK_RESPONSES
        summary="Receive a Svix-signed Recurrente event",
        description="Verified over the raw body (svix-* or webhook-* headers, ±300 s), stored once "
        "per message id and applied in the same transaction.",
        responses={
            400: problem_spec("Missing or bad signature headers, a stale timestamp, or an unreadable body"),
            503: problem_spec("A transient fault: deliver again later (see Retry-After)"),
        },
    )
    def recurrente(request: Request[Any, Any, Any], body: RawBody) -> WebhookAnswer:
        failed = cast("dict[str, Any]", request.scope).get(FAILED)
        if isinstance(failed, Exception):
            raise failed  # what the fast path met: answered as ever, not received twice
        return WebhookAnswer(status=answer_webhook(verifier, webhooks, dict(request.headers.items()), body))

    return [recurrente]


class WebhookFastPath:
    """``POST`` deliveries to our own hosts, answered in front of Litestar (see above)."""

    __slots__ = ("_hosts", "_verifier", "_webhooks")

    def __init__(self, verifier: WebhookVerifier, webhooks: WebhookService, *, hosts: frozenset[str]) -> None:
        self._verifier = verifier
        self._webhooks = webhooks
        self._hosts = hosts

    def takes(self, scope: HTTPScope) -> bool:
        return (
            scope["path"] == WEBHOOK_PATH and scope["method"] == "POST" and request_host(scope) in self._hosts
        )

    async def answer(self, scope: HTTPScope, receive: Receive, send: Send, routed: Any) -> None:
        """Answer the delivery, or hand it to ``routed`` (the Litestar app) with its body."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY_BYTES or not message.get("more_body", False):
                break
        status = [500]

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        if size > MAX_BODY_BYTES:  # the route refuses it (413) without reading further
            await routed(scope, _replay(chunks, receive, more=True), counted)
            count_webhook(status[0])
            return
        body = b"".join(chunks)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        try:
            answer = await anyio.to_thread.run_sync(
                answer_webhook, self._verifier, self._webhooks, headers, body
            )
        except Exception as error:
            failed = cast("HTTPScope", {**scope, FAILED: error})
            await routed(failed, _replay([body], receive, more=False), counted)
            count_webhook(status[0])
            return
        content = json.dumps({"status": answer}, separators=(",", ":")).encode()  # as the route writes it
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
            ],
        }
        await send(start)
        end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": content, "more_body": False}
        await send(end)
        count_webhook(200)


def _replay(chunks: list[bytes], receive: Receive, *, more: bool) -> Receive:
    """A ``receive`` giving the body read so far again, then (``more``) what is left."""
    pending = list(chunks)

    async def replayed() -> HTTPReceiveMessage:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": more or bool(pending)}
        return cast("HTTPReceiveMessage", await receive())

    return replayed
