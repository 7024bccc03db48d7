"""A local HTTP server that imitates Recurrente's documented API (docs/payments.md).

For tests, benchmarks and demos: the ``RecurrenteGateway`` talks to it exactly as it talks to
``https://app.recurrente.com/api``. It

- answers ``GET /test``, ``POST /checkouts``, ``GET /checkouts/{id}``,
  ``GET /subscriptions/{id}``, ``DELETE /subscriptions/{id}`` and ``POST /refunds`` under
  ``/api``, checking ``X-PUBLIC-KEY``/``X-SECRET-KEY`` (401 otherwise) and validating bodies
  as the docs say (422 with ``message`` and ``errors``);
- records every request (``requests``) for assertions, faults included;
- lets a test script the provider's side: ``mark_paid``, ``set_checkout_status``,
  ``set_subscription``;
- injects faults (``inject(Fault.error(500))``, ``Fault.slow(2)``, ``Fault.malformed_json()``,
  ``Fault.drop()``);
- serves a bare hosted checkout page (``/checkout-session/{id}``) whose Pay button marks the
  checkout paid and, when ``webhook_url`` is set, delivers a Svix-signed
  ``payment_intent.succeeded`` like the real provider.

A thin layer over the provider model (``provider_model``): its checkouts and subscriptions
are the model's (``imitation_state`` adds what only the wire shows), and paying, cancelling,
refunding and the webhook bodies follow the model's rules; ``imitation_wire`` holds the wire
format (JSON body checks, times, faults, the HTTP handler).

Run alone: ``python -m webmagic_adapters.payments.imitation --port 8765``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from typing import Any, Self
from urllib.parse import parse_qs

import attrs
import httpx

import webmagic_adapters.payments.provider_model as model
from webmagic_adapters.payments.imitation_state import (
    ImitationCheckout,
    ImitationSubscription,
    Refund,
    new_id,
    opened,
)
from webmagic_adapters.payments.imitation_wire import (
    API_PREFIX,
    ArmedFault,
    Fault,
    Handler,
    RecordedRequest,
    Reply,
    Server,
    checkout_problems,
    format_provider_time,
    logger,
    problem,
    refused,
    take_fault,
    wire_time,
)
from webmagic_adapters.payments.recurrente_events import PAYMENT_SUCCEEDED
from webmagic_adapters.payments.svix import SvixWebhookSigner
from webmagic_core.clock import SystemClock
from webmagic_core.payments.gateway import (
    CheckoutStatus,
    GatewayError,
    SubscriptionInfo,
    SubscriptionStatus,
)
from webmagic_core.ports import Clock

DEFAULT_PUBLIC_KEY = "pk_test_imitation"
DEFAULT_SECRET_KEY = "sk_test_imitation"  # noqa: S105 - the imitation's own, not a real key
# Who refuses, in the provider model's messages.
BY = "Recurrente"


_CHECKOUT = re.compile(r"/checkouts/([^/]+)/?")
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/]+)/?")
_SESSION = re.compile(r"/checkout-session/([^/]+)(/pay)?/?")


class RecurrenteImitation:
    """Start with ``start()`` (or ``with``); ``api_base`` is what ``RecurrenteGateway`` needs."""

    def __init__(
        self,
        *,
        public_key: str = DEFAULT_PUBLIC_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        account: str = "WebMagic Imitation",
        clock: Clock | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.public_key = public_key
        self.secret_key = secret_key
        self.account = account
        self.clock: Clock = clock or SystemClock()
        self.webhook_url = webhook_url
        self._signer = SvixWebhookSigner(webhook_secret) if webhook_secret else None
        self._address = (host, port)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.checkouts: dict[str, ImitationCheckout] = {}
        self.subscriptions: dict[str, ImitationSubscription] = {}
        self.refunds: list[Refund] = []
        self._faults: list[ArmedFault] = []
        self.page_size = 20  # checkouts per page of GET /checkouts

    def __repr__(self) -> str:
        return f"RecurrenteImitation(url={self.url if self._server else None!r})"

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = Server(self._address, Handler)
        server.serve = self._handle
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="recurrente-imitation",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes slow responses
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the server root)."""
        if self._server is None:
            raise RuntimeError("the imitation is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_base(self) -> str:
        return self.url + API_PREFIX

    # --- scripting the provider's side ---------------------------------------------------------

    def inject(
        self, fault: Fault, *, method: str | None = None, path: str | None = None, times: int = 1
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests of ``method`` whose path below ``/api``
        starts with ``path`` (any when ``None``). Faults apply in the order injected."""
        with self._lock:
            self._faults.append(ArmedFault(fault, method and method.upper(), path, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_to(self, method: str, route_prefix: str = "/") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.route.startswith(route_prefix)]

    def checkout(self, checkout_id: str) -> ImitationCheckout:
        with self._lock:
            return self.checkouts[checkout_id]

    def mark_paid(
        self,
        checkout_id: str,
        *,
        payment_id: str | None = None,
        paymentable_id: str | None = None,
        customer_email: str | None = "buyer@example.com",
        customer_name: str | None = "Imitation Buyer",
    ) -> ImitationCheckout:
        """The buyer paid: ``pa_...`` payment, ``on_...`` one-time payment or, for a recurring
        item, an active ``su_...`` subscription for its first period (the model's)."""
        with self._lock:
            checkout = self.checkouts[checkout_id]
            now = self.clock.now()
            checkout.state, started = model.pay(
                checkout.state,
                now,
                payment_id=payment_id or new_id("pa"),
                paymentable_id=paymentable_id or new_id(checkout.state.paymentable_prefix),
                customer_email=customer_email,
            )
            if started is not None:
                self.subscriptions[started.id] = ImitationSubscription(
                    started, created_at=now, subscriber_name=customer_name
                )
            return checkout

    def set_checkout_status(self, checkout_id: str, status: str) -> None:
        if status not in tuple(CheckoutStatus):
            raise ValueError(f"checkout status must be one of {tuple(map(str, CheckoutStatus))}")
        with self._lock:
            checkout = self.checkouts[checkout_id]
            checkout.state = attrs.evolve(checkout.state, status=CheckoutStatus(status))

    def set_subscription(
        self,
        subscription_id: str,
        *,
        status: str | None = None,
        checkout_id: str | None = None,
        current_period_start: dt.datetime | None = None,
        current_period_end: dt.datetime | None = None,
        next_payment_attempt_at: dt.datetime | None = None,
        subscriber_email: str | None = None,
    ) -> ImitationSubscription:
        """Change (or create) a subscription; arguments left ``None`` keep their value."""
        if status is not None and status not in tuple(SubscriptionStatus):
            raise ValueError(f"subscription status must be one of {tuple(map(str, SubscriptionStatus))}")
        with self._lock:
            subscription = self.subscriptions.get(subscription_id)
            if subscription is None:
                state = SubscriptionInfo(subscription_id, SubscriptionStatus.ACTIVE, None, None, None, None)
                subscription = ImitationSubscription(state, created_at=self.clock.now())
                self.subscriptions[subscription_id] = subscription
            changes: dict[str, Any] = {
                "status": status and SubscriptionStatus(status),
                "checkout_id": checkout_id,
                "current_period_start": current_period_start,
                "current_period_end": current_period_end,
                "next_payment_attempt_at": next_payment_attempt_at,
                "customer_email": subscriber_email,
            }
            subscription.state = attrs.evolve(
                subscription.state, **{name: value for name, value in changes.items() if value is not None}
            )
            return subscription

    def payment_event(
        self,
        checkout_id: str,
        event_type: str = PAYMENT_SUCCEEDED,
        *,
        customer_email: str = "buyer@example.com",
        customer_name: str = "Imitation Buyer",
        failure_reason: str | None = None,
    ) -> dict[str, Any]:
        """The ``payment_intent.*`` webhook payload Recurrente sends for this checkout."""
        with self._lock:
            checkout = self.checkouts[checkout_id]
            return model.payment_payload(
                attrs.evolve(checkout.state.info(), live_mode=checkout.live_mode),
                event_type=event_type,
                customer_email=customer_email,
                customer_name=customer_name,
                failure_reason=failure_reason,
                payment_id=checkout.payment_id or new_id("pa"),
                created_at=self.clock.now(),
                customer_id=new_id("us"),
                product_id="pr_imitation",
                invoice_id=new_id("in"),
                paymentable=(checkout.state.paymentable_type, checkout.paymentable_id),
                format_time=format_provider_time,
            )

    def deliver(self, payload: dict[str, Any], *, message_id: str | None = None) -> int:
        """POST ``payload`` to ``webhook_url``, signed; the status the app answered."""
        if self.webhook_url is None or self._signer is None:
            raise RuntimeError("set webhook_url and webhook_secret to deliver webhooks")
        body = json.dumps(payload).encode()
        headers = dict(self._signer.sign(message_id or f"msg_{uuid.uuid4().hex}", self.clock.now(), body))
        headers["Content-Type"] = "application/json"
        response = httpx.post(self.webhook_url, content=body, headers=headers, timeout=10)
        return response.status_code

    def is_payable(self, checkout_id: str) -> bool:
        """Whether the hosted page would still take a payment for this checkout."""
        with self._lock:
            return self.checkouts[checkout_id].state.is_open(self.clock.now())

    # --- request handling ------------------------------------------------------------------------

    def _handle(self, handler: Handler) -> None:
        recorded = RecordedRequest.read(handler)
        with self._lock:
            self.requests.append(recorded)
            fault = take_fault(self._faults, recorded.method, recorded.route)
        if fault is not None and fault.apply(handler, self._stopping):
            return
        path = recorded.path
        try:
            if path.startswith("/checkout-session/"):
                self._hosted_page(handler, path)
                return
            if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
                raise problem(404, "Not found")
            self._authenticate(recorded)
            if recorded.body and recorded.json is None:
                raise problem(400, "The request body is not valid JSON")
            status, body = self._route(recorded.method, recorded.route, recorded.json, recorded.query)
        except Reply as reply:
            status, body = reply.status, reply.body
        except Exception:
            logger.exception("imitation: %s %s failed", recorded.method, path)
            status, body = 500, {"message": "Internal Server Error"}
        handler.send_json(status, body)

    def _authenticate(self, request: RecordedRequest) -> None:
        public = request.headers.get("x-public-key")
        secret = request.headers.get("x-secret-key")
        if not (
            public is not None
            and secret is not None
            and secrets.compare_digest(public.encode(), self.public_key.encode())
            and secrets.compare_digest(secret.encode(), self.secret_key.encode())
        ):
            raise problem(401, "Invalid or missing API keys (X-PUBLIC-KEY and X-SECRET-KEY)")

    def _route(self, method: str, route: str, body: Any, query: str = "") -> tuple[int, Any]:
        with self._lock:
            if route in ("/test", "/test/") and method == "GET":
                return 200, {"message": f"Hello {self.account}"}
            if route in ("/checkouts", "/checkouts/") and method == "POST":
                return self._create_checkout(body)
            if route in ("/checkouts", "/checkouts/") and method == "GET":
                return self._list_checkouts(query)
            if (match := _CHECKOUT.fullmatch(route)) and method in ("GET", "PATCH"):
                checkout = self.checkouts.get(match[1])
                if checkout is None:
                    raise problem(404, "Checkout not found")
                if method == "PATCH":
                    return self._update_checkout(checkout, body)
                return 200, checkout.to_json()
            if match := _SUBSCRIPTION.fullmatch(route):
                subscription = self.subscriptions.get(match[1])
                if method not in ("GET", "DELETE"):
                    raise problem(404, "Not found")
                if subscription is None:
                    raise problem(404, "Subscription not found")
                if method == "GET":
                    return 200, subscription.to_json()
                # The model's cancel is idempotent; Recurrente's API refuses a second one.
                if subscription.status is SubscriptionStatus.CANCELLED:
                    raise problem(422, "The subscription is already cancelled")
                subscription.state = model.cancelled(subscription.state)
                return 200, {"message": "Subscription cancelled"}
            if route in ("/refunds", "/refunds/") and method == "POST":
                return self._refund(body)
            raise problem(404, "Not found")

    def _create_checkout(self, body: Any) -> tuple[int, Any]:
        problems = checkout_problems(body)
        if problems:
            raise problem(422, problems[0], problems)
        checkout_id = new_id("ch")
        checkout = ImitationCheckout(
            state=opened(checkout_id, body, self.clock.now()),
            checkout_url=f"{self.url}/checkout-session/{checkout_id}",
            item=dict(body["items"][0]),
            live_mode=self.public_key.startswith("pk_live_"),
        )
        self.checkouts[checkout_id] = checkout
        return 201, {"id": checkout.id, "checkout_url": checkout.checkout_url}

    def _list_checkouts(self, query: str) -> tuple[int, Any]:
        params = parse_qs(query)
        since = wire_time(params.get("from_time", [""])[0]) if "from_time" in params else None
        try:
            page = int(params.get("page", ["1"])[0])
        except (ValueError, IndexError):
            page = None
        if page is None or ("from_time" in params and since is None):
            raise problem(422, "from_time and page must be a time and a number")
        found = [c for c in self.checkouts.values() if since is None or c.state.created_at >= since]
        found.sort(key=lambda c: c.state.created_at, reverse=True)
        start = (max(page, 1) - 1) * self.page_size
        return 200, [c.to_json() for c in found[start : start + self.page_size]]

    def _update_checkout(self, checkout: ImitationCheckout, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or set(body) - {"expires_at", "metadata", "success_url", "cancel_url"}:
            raise problem(422, "Only expires_at, metadata, success_url and cancel_url can be changed")
        at = wire_time(body["expires_at"]) if "expires_at" in body else checkout.state.expires_at
        if "expires_at" in body and at is None:
            raise problem(422, "expires_at must be an ISO 8601 time")
        try:
            checkout.state = checkout.state.expiring(at)  # a paid checkout is a 422 (the model's rule)
        except GatewayError as error:
            raise refused(error) from None
        return 200, checkout.to_json()

    def _refund(self, body: Any) -> tuple[int, Any]:
        payment_id = body.get("payment_intent_id") if isinstance(body, dict) else None
        if not isinstance(payment_id, str) or not payment_id:
            raise problem(422, "payment_intent_id can't be blank", ["payment_intent_id can't be blank"])
        paid = next((c for c in self.checkouts.values() if c.payment_id == payment_id), None)
        try:
            model.check_refund(
                payment_id,
                paid=paid is not None,
                refunded=any(r.payment_intent_id == payment_id for r in self.refunds),
                by=BY,
            )
        except GatewayError as error:
            raise refused(error) from None
        assert paid is not None
        amount = paid.state.amount
        refund = Refund(new_id("re"), payment_id, amount.amount_in_cents, amount.currency)
        self.refunds.append(refund)
        return 201, {
            "id": refund.id,
            "status": "succeeded",
            "payment_intent_id": payment_id,
            "amount_in_cents": refund.amount_in_cents,
            "currency": refund.currency,
        }

    # --- a bare hosted checkout page, for demos --------------------------------------------------

    def _hosted_page(self, handler: Handler, path: str) -> None:
        match = _SESSION.fullmatch(path)
        with self._lock:
            checkout = self.checkouts.get(match[1]) if match else None
        if match is None or checkout is None:
            handler.send_html(404, "<h1>No such checkout</h1>")
            return
        if match[2] and handler.command == "POST":
            if checkout.status is not CheckoutStatus.PAID and not self.is_payable(checkout.id):
                handler.send_html(410, "<h1>This checkout has expired</h1>")
                return
            if checkout.status is not CheckoutStatus.PAID:
                self.mark_paid(checkout.id)
                if self.webhook_url is not None:
                    status = self.deliver(self.payment_event(checkout.id))
                    logger.info("imitation: webhook for %s answered %d", checkout.id, status)
            handler.send_bytes(303, b"", "text/plain", Location=checkout.state.success_url or "/")
            return
        handler.send_html(200, checkout.page())


def _iter_lines(imitation: RecurrenteImitation) -> Iterator[str]:
    yield f"Recurrente imitation at {imitation.api_base}"
    yield f"  WEBMAGIC_RECURRENTE_API_BASE={imitation.api_base}"
    yield f"  WEBMAGIC_RECURRENTE_PUBLIC_KEY={imitation.public_key}"
    yield f"  WEBMAGIC_RECURRENTE_SECRET_KEY={imitation.secret_key}  (imitation keys, not real ones)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Recurrente API imitation.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--webhook-url", help="where the hosted page's Pay button delivers webhooks")
    parser.add_argument("--webhook-secret", help="whsec_... secret to sign them with")
    args = parser.parse_args(argv)
    imitation = RecurrenteImitation(
        host=args.host, port=args.port, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret
    )
    with imitation:
        for line in _iter_lines(imitation):
            print(line)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
