"""The sandbox's hosted checkout page: ``/sandbox/checkout/{id}`` (only with sandbox payments;
without them nothing is registered under ``/sandbox``, so it answers 404).

It stands in for Recurrente's checkout page: the item, the amount, and two buttons.
"Pay" and "Decline" post (CSRF-protected forms, no JavaScript) to
``/sandbox/checkout/{id}/pay`` and ``/decline``, which update the sandbox checkout, deliver
the signed webhooks the provider would send (for a monthly checkout: the payment, then
``subscription.create``) to the app's own webhook endpoint, and then
send the browser to the checkout's success or cancel URL, as the provider does.

Delivery goes over HTTP to ``{WEBMAGIC_PUBLIC_URL}/api/v1/webhooks/recurrente``
(``HttpDelivery``), through whatever proxy stands in front of the app, with an async client:
the handler awaits the answer without holding the event loop, so a single-worker server
answers its own delivery. ``InProcessDelivery`` hands the webhook to the app over ASGI
instead (tests, or a server that cannot reach its public URL). When the delivery fails the
page says so: the checkout is paid in the sandbox all the same, and
``webmagic payments reconcile`` applies it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol, TypeVar, cast

import anyio.to_thread
import attrs
import httpx
from litestar import Litestar, Request, Response, Router, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from webmagic_adapters.bootstrap import (
    CHECKOUT_PATH,
    Keyring,
    SandboxCheckout,
    SandboxGateway,
    SandboxWebhook,
)
from webmagic_core.errors import Conflict, TransientError
from webmagic_core.payments.gateway import CheckoutKind, CheckoutStatus, GatewayError, GatewayNotFound
from webmagic_http.auth import csrf_protection
from webmagic_http.common import WEBHOOK_PATH, html_page, money_text, page_headers

log = logging.getLogger(__name__)

CSRF_COOKIE = "webmagic_csrf_sandbox"
CSRF_KEY_LABEL = "webmagic.csrf.sandbox.v1"
MAX_FORM_BYTES = 16 * 1024
DELIVERY_TIMEOUT_SECONDS = 15.0

T = TypeVar("T")


class WebhookDelivery(Protocol):
    async def __call__(self, app: Litestar, webhook: SandboxWebhook) -> int:
        """POST ``webhook`` to the webhook endpoint; the HTTP status it answered."""
        ...


@attrs.frozen
class HttpDelivery:
    """Over the network, to ``url`` (the public URL's webhook endpoint)."""

    url: str
    timeout: float = DELIVERY_TIMEOUT_SECONDS

    @classmethod
    def to(cls, public_url: str) -> HttpDelivery:
        return cls(public_url.rstrip("/") + WEBHOOK_PATH)

    async def __call__(self, app: Litestar, webhook: SandboxWebhook) -> int:
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            response = await client.post(self.url, content=webhook.body, headers=dict(webhook.headers))
        return response.status_code


@attrs.frozen
class InProcessDelivery:
    """Into the app itself over ASGI, without a network."""

    timeout: float = DELIVERY_TIMEOUT_SECONDS

    async def __call__(self, app: Litestar, webhook: SandboxWebhook) -> int:
        # Litestar's ASGI signature is narrower than httpx's, and compatible at run time.
        transport = httpx.ASGITransport(app=cast("Any", app))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://webmagic.internal", timeout=self.timeout
        ) as client:
            response = await client.post(WEBHOOK_PATH, content=webhook.body, headers=dict(webhook.headers))
        return response.status_code


async def _off_loop(fn: Callable[[str], T], checkout_id: str) -> T:
    return await anyio.to_thread.run_sync(fn, checkout_id)


def sandbox_pages(
    sandbox: SandboxGateway, delivery: WebhookDelivery, *, keys: Keyring, secure_cookie: bool
) -> Router:
    headers = page_headers(sandbox.public_url)

    def message(
        status: int, title: str, text: str, *, links: list[tuple[str, str]] | None = None
    ) -> Template:
        return html_page(
            "sandbox/message.html", headers, status, title=title, message=text, links=links or []
        )

    def unknown() -> Template:
        return message(404, "No such checkout", "The sandbox has no checkout at this address.")

    def unavailable() -> Template:
        return message(503, "The sandbox is unavailable", "Its database is busy or unreachable; try again.")

    @get("/{checkout_id:str}", sync_to_thread=True)
    def show(checkout_id: FromPath[str]) -> Template:
        try:
            checkout = sandbox.checkout(checkout_id)
        except GatewayNotFound:
            return unknown()
        except (GatewayError, TransientError):
            return unavailable()
        return html_page(
            "sandbox/checkout.html",
            headers,
            title=f"Pay for {checkout.item_name}",
            checkout=checkout,
            amount=money_text(checkout.amount),
            monthly=checkout.kind is CheckoutKind.MONTHLY,
            paid=checkout.status is CheckoutStatus.PAID,
            expired=checkout.expired(sandbox.clock.now()),
            action=f"{CHECKOUT_PATH}/{checkout.id}",
        )

    async def settle(
        request: Request[Any, Any, Any],
        checkout_id: str,
        act: Callable[[str], list[SandboxWebhook]],
        *,
        paying: bool,
    ) -> Response[Any]:
        try:
            checkout = await _off_loop(sandbox.checkout, checkout_id)
            webhooks = await _off_loop(act, checkout_id)
        except GatewayNotFound:
            return unknown()
        except Conflict as error:
            try:  # read again: another click may have paid it meanwhile
                checkout = await _off_loop(sandbox.checkout, checkout_id)
            except (GatewayError, TransientError):
                return unavailable()
            return settled_already(checkout, error.detail)
        except (GatewayError, TransientError):
            return unavailable()
        onward = checkout.success_url if paying else checkout.cancel_url
        problem: str | None = None
        for webhook in webhooks:  # in the provider's order; the first refusal stops the rest
            try:
                status = await delivery(request.app, webhook)
            except httpx.HTTPError as error:
                problem = f"it could not be delivered ({type(error).__name__})"
            else:
                if not 200 <= status < 300:
                    problem = f"the webhook endpoint answered {status}"
            if problem is not None:
                break
        if problem is None:
            return Redirect(onward, status_code=303, headers={"cache-control": "no-store"})
        log.warning(
            "sandbox: the %s webhook of %s was not accepted: %s", webhook.event_type, checkout_id, problem
        )
        return message(
            502,
            "The webhook was not delivered",
            f"The sandbox {'took the payment' if paying else 'declined the payment'} and signed the "
            f"{webhook.event_type} webhook, but {problem}. Check WEBMAGIC_PUBLIC_URL; "
            "`webmagic payments reconcile` (a purchase) or `webmagic lifecycle sweep` (a subscription) "
            "applies a paid checkout without its webhook.",
            links=[("Continue", onward)],
        )

    def settled_already(checkout: SandboxCheckout, detail: str) -> Template:
        if checkout.status is CheckoutStatus.PAID:
            return message(
                409,
                "Already paid",
                "This checkout is paid already.",
                links=[("Continue", checkout.success_url)],
            )
        return message(
            409,
            "This checkout cannot be paid",
            detail[0].upper() + detail[1:] + ".",
            links=[("Back", checkout.cancel_url)],
        )

    @post("/{checkout_id:str}/pay", status_code=303)
    async def pay(request: Request[Any, Any, Any], checkout_id: FromPath[str]) -> Response[Any]:
        return await settle(request, checkout_id, sandbox.pay_all, paying=True)

    @post("/{checkout_id:str}/decline", status_code=303)
    async def decline(request: Request[Any, Any, Any], checkout_id: FromPath[str]) -> Response[Any]:
        return await settle(request, checkout_id, lambda checkout: [sandbox.decline(checkout)], paying=False)

    def page_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if exc.status_code == 403:  # the CSRF middleware
            return message(
                403,
                "This form could not be accepted",
                "Its security token is missing or does not match; reload the page and try again.",
            )
        status = exc.status_code if 400 <= exc.status_code < 500 else 500
        if status == 500:
            log.error("HTTP %s on %s %s: %s", exc.status_code, request.method, request.url.path, exc.detail)
        return message(status, HTTPStatus(status).phrase, "This page cannot be shown.")

    return Router(
        CHECKOUT_PATH,
        route_handlers=[show, pay, decline],
        middleware=[
            csrf_protection(
                keys, label=CSRF_KEY_LABEL, cookie=CSRF_COOKIE, path=CHECKOUT_PATH, secure=secure_cookie
            )
        ],
        exception_handlers={HTTPException: page_error},
        request_max_body_size=MAX_FORM_BYTES,
        include_in_schema=False,
    )
