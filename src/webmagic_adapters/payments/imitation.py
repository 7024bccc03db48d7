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

Run alone: ``python -m webmagic_adapters.payments.imitation --port 8765``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import html
import json
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx

import webmagic_adapters.payments.provider_model as model
from webmagic_adapters.payments.models import parse_datetime
from webmagic_adapters.payments.svix import SvixWebhookSigner
from webmagic_core.clock import SystemClock
from webmagic_core.money import Money
from webmagic_core.payments.gateway import (
    CheckoutInfo,
    CheckoutStatus,
    FreeTrial,
    TrialInterval,
    add_months,
    trial_end,
)
from webmagic_core.ports import Clock

logger = logging.getLogger(__name__)

API_PREFIX = "/api"
DEFAULT_PUBLIC_KEY = "pk_test_imitation"
DEFAULT_SECRET_KEY = "sk_test_imitation"  # noqa: S105 - the imitation's own, not a real key
# In the order its messages name them.
CURRENCIES = tuple(sorted(model.CURRENCIES, reverse=True))
CHECKOUT_STATUSES = ("unpaid", "paid", "payment_in_progress")
SUBSCRIPTION_STATUSES = ("active", "paused", "past_due", "cancelled", "unable_to_start")
# Recurrente's times come with Guatemala's offset; the adapter must turn them into UTC.
PROVIDER_OFFSET = dt.timezone(dt.timedelta(hours=-6))


def _new_id(prefix: str) -> str:
    return model.new_id(prefix, hex_digits=16)


def provider_time(value: dt.datetime | None) -> str | None:
    """A time as Recurrente writes it: ISO 8601 with milliseconds and the -06:00 offset."""
    return None if value is None else _provider_time(value)


def _provider_time(value: dt.datetime) -> str:
    return value.astimezone(PROVIDER_OFFSET).isoformat(timespec="milliseconds")


def _first_period_end(start: dt.datetime, item: dict[str, Any]) -> dt.datetime:
    """When the first period of a recurring item paid at ``start`` ends: its free trial's
    end (weeks, months or years), else a month later (the provider model's rule)."""
    interval, count = item.get("free_trial_interval"), item.get("free_trial_interval_count")
    if not isinstance(count, int) or count < 1:
        return model.add_month(start)
    if interval == "year":
        return add_months(start, 12 * count)
    if interval in tuple(TrialInterval):
        return trial_end(start, FreeTrial(TrialInterval(interval), count))
    return model.add_month(start)


# --- recorded requests and faults ----------------------------------------------------------


@attrs.frozen
class RecordedRequest:
    method: str
    path: str  # as received, without the query string, e.g. /api/checkouts
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any  # the parsed body; None when empty or not JSON

    @property
    def route(self) -> str:
        """The path below ``/api`` (``/checkouts``)."""
        return self.path.removeprefix(API_PREFIX) or "/"


@attrs.frozen
class Fault:
    """What to do instead of (or before) answering normally; see the constructors."""

    status: int | None = None
    delay: float = 0.0
    malformed: bool = False
    disconnect: bool = False

    @classmethod
    def error(cls, status: int = 500) -> Fault:
        """Answer ``status`` with a JSON message and do nothing else."""
        return cls(status=status)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait, then handle the request normally (a client that timed out may miss the effect)."""
        return cls(delay=seconds)

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 with a truncated JSON body, doing nothing else."""
        return cls(malformed=True)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls(disconnect=True)


@attrs.define
class _ArmedFault:
    fault: Fault
    method: str | None
    path: str | None
    remaining: int

    def matches(self, method: str, route: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or route.startswith(self.path)


# --- provider state --------------------------------------------------------------------------


@attrs.define
class ImitationCheckout:
    id: str
    checkout_url: str
    item: dict[str, Any]
    success_url: str | None
    cancel_url: str | None
    metadata: dict[str, str]
    expires_at: str | None
    created_at: dt.datetime
    status: str = "unpaid"
    live_mode: bool = False
    payment_id: str | None = None
    paymentable_type: str | None = None
    paymentable_id: str | None = None

    @property
    def recurring(self) -> bool:
        return self.item.get("charge_type") == "recurring"

    @property
    def total_in_cents(self) -> int:
        return int(self.item["amount_in_cents"]) * int(self.item.get("quantity", 1))

    @property
    def currency(self) -> str:
        return str(self.item["currency"])

    def to_json(self) -> dict[str, Any]:
        payment = None
        if self.payment_id is not None:
            payment = {
                "id": self.payment_id,
                "paymentable": {"type": self.paymentable_type, "id": self.paymentable_id},
            }
        return {
            "id": self.id,
            "status": self.status,
            "checkout_url": self.checkout_url,
            "created_at": provider_time(self.created_at),
            "expires_at": self.expires_at,
            "live_mode": self.live_mode,
            "total_in_cents": self.total_in_cents,
            "currency": self.currency,
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
            "metadata": dict(self.metadata),
            "items": [dict(self.item)],
            "payment": payment,
        }


@attrs.define
class ImitationSubscription:
    id: str
    status: str
    checkout_id: str | None
    created_at: dt.datetime
    current_period_start: dt.datetime | None = None
    current_period_end: dt.datetime | None = None
    next_payment_attempt_at: dt.datetime | None = None
    subscriber_email: str | None = None
    subscriber_name: str | None = None
    subscriber_id: str = attrs.field(factory=lambda: _new_id("us"))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "description": "Monthly hosting",
            "created_at": provider_time(self.created_at),
            "current_period_start": provider_time(self.current_period_start),
            "current_period_end": provider_time(self.current_period_end),
            "next_payment_attempt_at": provider_time(self.next_payment_attempt_at),
            "subscriber": {
                "id": self.subscriber_id,
                "email": self.subscriber_email,
                "full_name": self.subscriber_name,
            },
            "checkout": {"id": self.checkout_id},
            "product": {"id": "pr_imitation"},
        }


@attrs.frozen
class Refund:
    id: str
    payment_intent_id: str
    amount_in_cents: int
    currency: str


class _Reply(Exception):
    """Raised inside a route to answer with ``status`` and a JSON ``body``."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _problem(status: int, message: str, errors: list[str] | None = None) -> _Reply:
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return _Reply(status, body)


# --- validation as the docs describe it ------------------------------------------------------


def _is_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def item_problems(item: object) -> list[str]:
    if not isinstance(item, dict):
        return ["each item must be an object"]
    problems = []
    if not isinstance(item.get("name"), str) or not item["name"].strip():
        problems.append("item name can't be blank")
    if item.get("currency") not in CURRENCIES:
        problems.append(f"item currency must be one of {', '.join(CURRENCIES)}")
    if not _positive_int(item.get("amount_in_cents")):
        problems.append("item amount_in_cents must be a positive integer")
    if "quantity" in item and not _positive_int(item["quantity"]):
        problems.append("item quantity must be a positive integer")
    for optional in ("description", "image_url"):
        if optional in item and item[optional] is not None and not isinstance(item[optional], str):
            problems.append(f"item {optional} must be a string")
    charge_type = item.get("charge_type", "one_time")
    if charge_type not in ("one_time", "recurring"):
        problems.append("item charge_type must be one_time or recurring")
    if charge_type == "recurring":
        if item.get("billing_interval") not in ("week", "month", "year"):
            problems.append("item billing_interval must be week, month or year")
        if not _positive_int(item.get("billing_interval_count")):
            problems.append("item billing_interval_count must be a positive integer")
    if item.get("free_trial_interval") is not None or item.get("free_trial_interval_count") is not None:
        if charge_type != "recurring":
            problems.append("only a recurring item can have a free trial")
        if item.get("free_trial_interval") not in ("week", "month", "year"):
            problems.append("item free_trial_interval must be week, month or year")
        if not _positive_int(item.get("free_trial_interval_count")):
            problems.append("item free_trial_interval_count must be a positive integer")
    return problems


def metadata_problems(metadata: object) -> list[str]:
    if not isinstance(metadata, dict):
        return ["metadata must be an object"]
    problems = []
    if len(metadata) > model.MAX_METADATA_KEYS:
        problems.append(f"metadata can't have more than {model.MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if len(key) > model.MAX_METADATA_KEY_LENGTH:
            problems.append(
                f"metadata key {key[: model.MAX_METADATA_KEY_LENGTH]}... is longer than "
                f"{model.MAX_METADATA_KEY_LENGTH} characters"
            )
        if not isinstance(value, str):
            problems.append(f"metadata value of {key} must be a string")
        elif len(value) > model.MAX_METADATA_VALUE_LENGTH:
            problems.append(
                f"metadata value of {key} is longer than {model.MAX_METADATA_VALUE_LENGTH} characters"
            )
    return problems


def checkout_problems(body: object) -> list[str]:
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    problems = []
    items = body.get("items")
    if not isinstance(items, list) or not items:
        problems.append("items can't be empty")
    else:
        for item in items:
            problems.extend(item_problems(item))
        if len({item.get("currency") for item in items if isinstance(item, dict)}) > 1:
            problems.append("all items must have the same currency")
    for url in ("success_url", "cancel_url"):
        if url in body and body[url] is not None and not _is_url(body[url]):
            problems.append(f"{url} must be an http(s) URL")
    if "metadata" in body and body["metadata"] is not None:
        problems.extend(metadata_problems(body["metadata"]))
    expires_at = body.get("expires_at")
    if expires_at is not None:
        try:
            valid = isinstance(expires_at, str) and bool(parse_datetime(expires_at))
        except ValueError:
            valid = False
        if not valid:
            problems.append("expires_at must be an ISO 8601 time")
    return problems


# --- the server --------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # concurrent clients must not wait for SYN retransmits
    imitation: RecurrenteImitation

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out closed its socket while we slept: that is the point of the fault.
        logger.debug("imitation: connection from %s ended abruptly", client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("imitation: " + format, *args)

    def _dispatch(self) -> None:
        self.server.imitation._handle(self)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def send_json(self, status: int, body: Any) -> None:
        self.send_bytes(status, json.dumps(body).encode(), "application/json; charset=utf-8")

    def send_bytes(self, status: int, data: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)


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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.checkouts: dict[str, ImitationCheckout] = {}
        self.subscriptions: dict[str, ImitationSubscription] = {}
        self.refunds: list[Refund] = []
        self._faults: list[_ArmedFault] = []
        self.page_size = 20  # checkouts per page of GET /checkouts

    def __repr__(self) -> str:
        return f"RecurrenteImitation(url={self.url if self._server else None!r})"

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(self._address, _Handler)
        server.imitation = self
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
            self._faults.append(_ArmedFault(fault, method and method.upper(), path, times))

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
        item, an active ``su_...`` subscription for one month from now."""
        with self._lock:
            checkout = self.checkouts[checkout_id]
            checkout.status = "paid"
            checkout.payment_id = payment_id or _new_id("pa")
            if checkout.recurring:
                checkout.paymentable_type = "Subscription"
                checkout.paymentable_id = paymentable_id or _new_id("su")
                start = self.clock.now()
                first_end = _first_period_end(start, checkout.item)
                self.subscriptions[checkout.paymentable_id] = ImitationSubscription(
                    id=checkout.paymentable_id,
                    status="active",
                    checkout_id=checkout.id,
                    created_at=start,
                    current_period_start=start,
                    current_period_end=first_end,
                    next_payment_attempt_at=first_end,
                    subscriber_email=customer_email,
                    subscriber_name=customer_name,
                )
            else:
                checkout.paymentable_type = "OneTimePayment"
                checkout.paymentable_id = paymentable_id or _new_id("on")
            return checkout

    def set_checkout_status(self, checkout_id: str, status: str) -> None:
        if status not in CHECKOUT_STATUSES:
            raise ValueError(f"checkout status must be one of {CHECKOUT_STATUSES}")
        with self._lock:
            self.checkouts[checkout_id].status = status

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
        if status is not None and status not in SUBSCRIPTION_STATUSES:
            raise ValueError(f"subscription status must be one of {SUBSCRIPTION_STATUSES}")
        with self._lock:
            subscription = self.subscriptions.get(subscription_id)
            if subscription is None:
                subscription = ImitationSubscription(
                    id=subscription_id, status="active", checkout_id=None, created_at=self.clock.now()
                )
                self.subscriptions[subscription_id] = subscription
            changes = {
                "status": status,
                "checkout_id": checkout_id,
                "current_period_start": current_period_start,
                "current_period_end": current_period_end,
                "next_payment_attempt_at": next_payment_attempt_at,
                "subscriber_email": subscriber_email,
            }
            for name, value in changes.items():
                if value is not None:
                    setattr(subscription, name, value)
            return subscription

    def payment_event(
        self,
        checkout_id: str,
        event_type: str = "payment_intent.succeeded",
        *,
        customer_email: str = "buyer@example.com",
        customer_name: str = "Imitation Buyer",
        failure_reason: str | None = None,
    ) -> dict[str, Any]:
        """The ``payment_intent.*`` webhook payload Recurrente sends for this checkout."""
        with self._lock:
            checkout = self.checkouts[checkout_id]
            info = CheckoutInfo(
                id=checkout.id,
                status=CheckoutStatus(checkout.status),
                amount=Money(checkout.total_in_cents, checkout.currency),
                live_mode=checkout.live_mode,
                metadata=checkout.metadata,
            )
            return model.payment_payload(
                info,
                event_type=event_type,
                customer_email=customer_email,
                customer_name=customer_name,
                failure_reason=failure_reason,
                payment_id=checkout.payment_id or _new_id("pa"),
                created_at=self.clock.now(),
                customer_id=_new_id("us"),
                product_id="pr_imitation",
                invoice_id=_new_id("in"),
                paymentable=(checkout.paymentable_type, checkout.paymentable_id),
                format_time=_provider_time,
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

    # --- request handling ------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        recorded = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=parts.query,
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=raw,
            json=parsed,
        )
        with self._lock:
            self.requests.append(recorded)
            fault = self._take_fault(recorded.method, recorded.route)
        if fault is not None:
            if fault.delay:
                self._stopping.wait(fault.delay)
            if fault.disconnect:
                handler.close_connection = True
                return
            if fault.status is not None:
                handler.send_json(fault.status, {"message": HTTPStatus(fault.status).phrase})
                return
            if fault.malformed:
                handler.send_bytes(200, b'{"id": "ch_trunc', "application/json")
                return
        try:
            if parts.path.startswith("/checkout-session/"):
                self._hosted_page(handler, parts.path, raw)
                return
            if not (parts.path == API_PREFIX or parts.path.startswith(API_PREFIX + "/")):
                raise _problem(404, "Not found")
            self._authenticate(recorded)
            if raw and parsed is None:
                raise _problem(400, "The request body is not valid JSON")
            status, body = self._route(recorded.method, recorded.route, parsed, recorded.query)
        except _Reply as reply:
            status, body = reply.status, reply.body
        except Exception:
            logger.exception("imitation: %s %s failed", recorded.method, recorded.path)
            status, body = 500, {"message": "Internal Server Error"}
        handler.send_json(status, body)

    def _take_fault(self, method: str, route: str) -> Fault | None:
        for armed in self._faults:
            if armed.remaining > 0 and armed.matches(method, route):
                armed.remaining -= 1
                if armed.remaining == 0:
                    self._faults.remove(armed)
                return armed.fault
        return None

    def _authenticate(self, request: RecordedRequest) -> None:
        public = request.headers.get("x-public-key")
        secret = request.headers.get("x-secret-key")
        if not (
            public is not None
            and secret is not None
            and secrets.compare_digest(public.encode(), self.public_key.encode())
            and secrets.compare_digest(secret.encode(), self.secret_key.encode())
        ):
            raise _problem(401, "Invalid or missing API keys (X-PUBLIC-KEY and X-SECRET-KEY)")

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
                    raise _problem(404, "Checkout not found")
                if method == "PATCH":
                    return self._update_checkout(checkout, body)
                return 200, checkout.to_json()
            if match := _SUBSCRIPTION.fullmatch(route):
                subscription = self.subscriptions.get(match[1])
                if method not in ("GET", "DELETE"):
                    raise _problem(404, "Not found")
                if subscription is None:
                    raise _problem(404, "Subscription not found")
                if method == "GET":
                    return 200, subscription.to_json()
                if subscription.status == "cancelled":
                    raise _problem(422, "The subscription is already cancelled")
                subscription.status = "cancelled"
                subscription.next_payment_attempt_at = None
                return 200, {"message": "Subscription cancelled"}
            if route in ("/refunds", "/refunds/") and method == "POST":
                return self._refund(body)
            raise _problem(404, "Not found")

    def _create_checkout(self, body: Any) -> tuple[int, Any]:
        problems = checkout_problems(body)
        if problems:
            raise _problem(422, problems[0], problems)
        checkout_id = _new_id("ch")
        checkout = ImitationCheckout(
            id=checkout_id,
            checkout_url=f"{self.url}/checkout-session/{checkout_id}",
            item=dict(body["items"][0]),
            success_url=body.get("success_url"),
            cancel_url=body.get("cancel_url"),
            metadata=dict(body.get("metadata") or {}),
            expires_at=body.get("expires_at"),
            created_at=self.clock.now(),
            live_mode=self.public_key.startswith("pk_live_"),
        )
        self.checkouts[checkout_id] = checkout
        return 201, {"id": checkout.id, "checkout_url": checkout.checkout_url}

    def _list_checkouts(self, query: str) -> tuple[int, Any]:
        params = parse_qs(query)
        try:
            since = parse_datetime(params["from_time"][0]) if "from_time" in params else None
            page = int(params.get("page", ["1"])[0])
        except (ValueError, IndexError):
            raise _problem(422, "from_time and page must be a time and a number") from None
        found = [c for c in self.checkouts.values() if since is None or c.created_at >= since]
        found.sort(key=lambda c: c.created_at, reverse=True)
        start = (max(page, 1) - 1) * self.page_size
        return 200, [c.to_json() for c in found[start : start + self.page_size]]

    def _update_checkout(self, checkout: ImitationCheckout, body: Any) -> tuple[int, Any]:
        if checkout.status == "paid":
            raise _problem(422, "A paid checkout can't be changed")
        if not isinstance(body, dict) or set(body) - {"expires_at", "metadata", "success_url", "cancel_url"}:
            raise _problem(422, "Only expires_at, metadata, success_url and cancel_url can be changed")
        if "expires_at" in body:
            try:
                parse_datetime(body["expires_at"])
            except (TypeError, ValueError):
                raise _problem(422, "expires_at must be an ISO 8601 time") from None
            checkout.expires_at = body["expires_at"]
        return 200, checkout.to_json()

    def is_payable(self, checkout_id: str) -> bool:
        """Whether the hosted page would still take a payment for this checkout."""
        with self._lock:
            checkout = self.checkouts[checkout_id]
            if checkout.status == "paid":
                return False
            return checkout.expires_at is None or self.clock.now() < parse_datetime(checkout.expires_at)

    def _refund(self, body: Any) -> tuple[int, Any]:
        payment_id = body.get("payment_intent_id") if isinstance(body, dict) else None
        if not isinstance(payment_id, str) or not payment_id:
            raise _problem(422, "payment_intent_id can't be blank", ["payment_intent_id can't be blank"])
        paid = next((c for c in self.checkouts.values() if c.payment_id == payment_id), None)
        if paid is None:
            raise _problem(404, "Payment intent not found")
        if any(r.payment_intent_id == payment_id for r in self.refunds):
            raise _problem(422, "The payment has already been refunded", ["already refunded"])
        refund = Refund(_new_id("re"), payment_id, paid.total_in_cents, paid.currency)
        self.refunds.append(refund)
        return 201, {
            "id": refund.id,
            "status": "succeeded",
            "payment_intent_id": payment_id,
            "amount_in_cents": refund.amount_in_cents,
            "currency": refund.currency,
        }

    # --- a bare hosted checkout page, for demos --------------------------------------------------

    def _hosted_page(self, handler: _Handler, path: str, raw: bytes) -> None:
        match = _SESSION.fullmatch(path)
        with self._lock:
            checkout = self.checkouts.get(match[1]) if match else None
        if match is None or checkout is None:
            handler.send_bytes(404, b"<h1>No such checkout</h1>", "text/html; charset=utf-8")
            return
        if match[2] and handler.command == "POST":
            if checkout.status != "paid" and not self.is_payable(checkout.id):
                handler.send_bytes(410, b"<h1>This checkout has expired</h1>", "text/html; charset=utf-8")
                return
            if checkout.status != "paid":
                self.mark_paid(checkout.id)
                if self.webhook_url is not None:
                    status = self.deliver(self.payment_event(checkout.id))
                    logger.info("imitation: webhook for %s answered %d", checkout.id, status)
            handler.send_bytes(303, b"", "text/plain", Location=checkout.success_url or "/")
            return
        item = checkout.item
        page = (
            "<!doctype html><meta charset=utf-8><title>Recurrente imitation</title>"
            f"<h1>{html.escape(str(item.get('name')))}</h1>"
            f"<p>{checkout.total_in_cents / 100:.2f} {html.escape(checkout.currency)}"
            f"{' per month' if checkout.recurring else ''} — status {html.escape(checkout.status)}</p>"
            f"<form method=post action='/checkout-session/{html.escape(checkout.id)}/pay'>"
            "<button>Pay</button></form>"
            f"<p><a href='{html.escape(checkout.cancel_url or '/')}'>Cancel</a></p>"
        )
        handler.send_bytes(200, page.encode(), "text/html; charset=utf-8")


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
