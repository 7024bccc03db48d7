"""``WebhookFastPath``: deliveries to the app's own hosts are answered in front of Litestar;
anything unusual is handed to the route with the body as read, and a failure of
``receive`` is answered by the route without receiving the delivery a second time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from payments_support import WEBHOOK, Shop, open_shop
from prometheus_client import REGISTRY

from webmagic_core.lifecycle import SiteStatus
from webmagic_http.webhooks import FAILED, MAX_BODY_BYTES, WebhookFastPath


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data") as running:
        running.preview()
        yield running


def fast_path(shop: Shop) -> WebhookFastPath:
    path = shop.client.app.webhook_path  # type: ignore[attr-defined]
    assert isinstance(path, WebhookFastPath)
    return path


def scope(host: bytes = b"localhost", *, method: str = "POST", path: str = WEBHOOK, **headers: str) -> Any:
    raw = [(b"host", host)] + [(k.encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": method, "path": path, "headers": raw, "query_string": b""}


class Routed:
    """Stands for the Litestar app: what it was handed (scope, the body it could read)."""

    def __init__(self) -> None:
        self.scope: Any = None
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def run(path: WebhookFastPath, request_scope: Any, chunks: list[bytes]) -> tuple[Routed, list[Any]]:
    routed, sent = Routed(), []
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> Any:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(path.answer(request_scope, receive, send, routed))
    return routed, sent


def test_only_posts_to_the_webhook_on_our_own_hosts_take_it(shop: Shop) -> None:
    path = fast_path(shop)
    assert path.takes(scope())
    assert not path.takes(scope(method="GET"))
    assert not path.takes(scope(path="/api/v1/purchases"))
    assert not path.takes(scope(b"shop.example.com"))  # a customer's domain, or anyone's


def test_a_delivery_is_received_and_answered_without_the_router(shop: Shop) -> None:
    started = shop.started()
    body = json.dumps(shop.paid_payload(started["checkout_id"])).encode()
    headers = shop.signed(body, message_id="msg_fast")
    # Sent in two chunks, as a client may: the signature is over the whole body.
    routed, sent = run(fast_path(shop), scope(**headers), [body[:100], body[100:]])

    assert routed.scope is None
    assert sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert sent[1]["body"] == b'{"status":"processed"}'  # the bytes the route writes
    assert shop.site().status is SiteStatus.OWNED
    assert shop.container.webhooks.get("msg_fast") is not None


def test_a_refused_delivery_goes_to_the_route_with_its_body_and_what_failed(shop: Shop) -> None:
    body = b'{"event_type": "payment_intent.succeeded"}'
    headers = shop.signed(body, secret="whsec_" + "A" * 32)  # another secret
    routed, sent = run(fast_path(shop), scope(**headers), [body])

    assert routed.body == body
    assert type(routed.scope[FAILED]).__name__ == "InvalidSignature"
    assert sent[0]["status"] == 418  # the route's answer, whatever it is
    assert shop.container.webhooks.list() == []


def test_a_body_over_the_limit_goes_to_the_route_unread_beyond_it(shop: Shop) -> None:
    chunk = b"x" * (MAX_BODY_BYTES // 2 + 1)
    routed, _ = run(fast_path(shop), scope(), [chunk, chunk, b"tail"])

    assert FAILED not in routed.scope
    assert routed.body == chunk + chunk + b"tail"  # what was read, then the rest


def test_answers_are_counted_by_status(shop: Shop) -> None:
    def count(status: str) -> float:
        return REGISTRY.get_sample_value("webmagic_webhook_responses_total", {"status": status}) or 0.0

    ok, refused = count("200"), count("400")
    payload = {"id": "bt_1", "event_type": "bank_transfer_intent.pending", "amount_in_cents": 100}
    body = json.dumps(payload).encode()
    local = {"host": "localhost"}
    assert shop.client.post(WEBHOOK, content=body, headers={**shop.signed(body), **local}).status_code == 200
    assert (
        shop.client.post(WEBHOOK, content=body, headers={**shop.signed(body[:-1]), **local}).status_code
        == 400
    )
    assert (count("200") - ok, count("400") - refused) == (1, 1)
