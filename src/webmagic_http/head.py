"""HEAD for every GET route: routed as GET, sent with the GET's headers and no body.

Litestar routes HEAD only to handlers that declare it, so ``HEAD /healthz`` (what load
balancers and uptime monitors send) would get 405. RFC 9110 §9.3.2 makes HEAD a GET
without the content; doing it once here, before routing, covers every page, the schema
and the health checks alike. Hosting could answer HEAD itself, but GET's pre-encoded
headers are the same answer, so it goes the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from litestar import Litestar

if TYPE_CHECKING:
    from litestar.types import Message, Receive, Scope, Send
    from litestar.types.asgi_types import HTTPScope, LifeSpanReceive, LifeSpanScope, LifeSpanSend

    from webmagic_http.activity import RequestActivity
    from webmagic_http.site_hosting import HostingFastPath
    from webmagic_http.webhooks import WebhookFastPath


def _without_body(send: Send) -> Send:
    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = cast("Message", {**message, "body": b""})
        await send(message)

    return send_headers_only


class WebMagicApp(Litestar):
    """The Litestar application, answering HEAD wherever it answers GET; ``fast_path``
    (set once the routes are known) answers hosted pages in front of it, ``webhook_path``
    the payment provider's deliveries; ``activity``
    counts the HTTP requests being answered (background work gives way to them)."""

    fast_path: HostingFastPath | None = None
    webhook_path: WebhookFastPath | None = None
    activity: RequestActivity | None = None

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        activity = self.activity
        if activity is None or cast("dict[str, Any]", scope)["type"] != "http":
            await self._answer(scope, receive, send)
            return
        activity.started()
        try:
            await self._answer(scope, receive, send)
        finally:
            activity.finished()

    async def _answer(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        raw = cast("dict[str, Any]", scope)
        webhook = self.webhook_path
        if webhook is not None and raw["type"] == "http" and webhook.takes(cast("HTTPScope", raw)):
            await webhook.answer(
                cast("HTTPScope", raw), cast("Receive", receive), cast("Send", send), super().__call__
            )
            return
        fast = self.fast_path
        if fast is not None and raw["type"] == "http":
            slug = fast.slug(cast("HTTPScope", raw))
            if slug is not None:
                response = await fast.answer(cast("HTTPScope", raw), slug)
                if response is not None:
                    await response(cast("HTTPScope", raw), cast("Receive", receive), cast("Send", send))
                    return
        if raw["type"] == "http" and raw["method"] == "HEAD":
            scope = cast("HTTPScope", {**raw, "method": "GET"})
            send = _without_body(cast("Send", send))
        await super().__call__(scope, receive, send)
