"""What the HTTP imitation of Recurrente (``imitation``) shows on the wire, apart from the
provider's state: recorded requests and faults, the JSON body checks of ``POST /checkouts``
(types first, then the provider model's rules), the provider's time format, problem
answers, and the HTTP server and handler."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import attrs

import webmagic_adapters.payments.provider_model as model
from webmagic_adapters.payments.models import parse_datetime
from webmagic_core.payments.gateway import GatewayError

# The imitation logs under one name, whichever of its modules speaks.
logger = logging.getLogger("webmagic_adapters.payments.imitation")

API_PREFIX = "/api"
# Recurrente's times come with Guatemala's offset; the adapter must turn them into UTC.
PROVIDER_OFFSET = dt.timezone(dt.timedelta(hours=-6))
TRIAL_INTERVALS = ("week", "month", "year")


def provider_time(value: dt.datetime | None) -> str | None:
    """A time as Recurrente writes it: ISO 8601 with milliseconds and the -06:00 offset."""
    return None if value is None else format_provider_time(value)


def format_provider_time(value: dt.datetime) -> str:
    return value.astimezone(PROVIDER_OFFSET).isoformat(timespec="milliseconds")


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

    @classmethod
    def read(cls, handler: BaseHTTPRequestHandler) -> RecordedRequest:
        """The request ``handler`` is serving, its body read."""
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return cls(
            method=handler.command,
            path=parts.path,
            query=parts.query,
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=raw,
            json=parsed,
        )


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

    def apply(self, handler: Handler, stopping: threading.Event) -> bool:
        """Play the fault on ``handler``; True when it answered (or dropped) the request."""
        if self.delay:
            stopping.wait(self.delay)
        if self.disconnect:
            handler.close_connection = True
            return True
        if self.status is not None:
            handler.send_json(self.status, {"message": HTTPStatus(self.status).phrase})
            return True
        if self.malformed:
            handler.send_bytes(200, b'{"id": "ch_trunc', "application/json")
            return True
        return False


@attrs.define
class ArmedFault:
    fault: Fault
    method: str | None
    path: str | None
    remaining: int

    def matches(self, method: str, route: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or route.startswith(self.path)


def take_fault(faults: list[ArmedFault], method: str, route: str) -> Fault | None:
    """The first armed fault for this request, used up once."""
    for armed in faults:
        if armed.remaining > 0 and armed.matches(method, route):
            armed.remaining -= 1
            if armed.remaining == 0:
                faults.remove(armed)
            return armed.fault
    return None


class Reply(Exception):
    """Raised inside a route to answer with ``status`` and a JSON ``body``."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def problem(status: int, message: str, errors: list[str] | None = None) -> Reply:
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return Reply(status, body)


def refused(error: GatewayError) -> Reply:
    """The provider model's refusal (a 404 or a 422) as Recurrente answers it."""
    return problem(error.status or 422, error.detail, [error.detail])


# --- validation as the docs describe it: the JSON types here, the rules in the model ---------


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def item_problems(item: object) -> list[str]:
    if not isinstance(item, dict):
        return ["each item must be an object"]
    problems = []
    name, amount, currency = item.get("name"), item.get("amount_in_cents"), item.get("currency")
    # A value of the wrong type is named once; the model then judges the rest.
    if not isinstance(name, str):
        problems.append("item name can't be blank")
        name = "-"
    if not _integer(amount):
        problems.append("item amount_in_cents must be a positive integer")
    cents = amount if _integer(amount) and isinstance(amount, int) else 1
    problems += model.item_problems(name, cents, currency if isinstance(currency, str) else "")
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
        problems += model.trial_problems(charge_type == "recurring")
        if item.get("free_trial_interval") not in TRIAL_INTERVALS:
            problems.append("item free_trial_interval must be week, month or year")
        if not _positive_int(item.get("free_trial_interval_count")):
            problems.append("item free_trial_interval_count must be a positive integer")
    return problems


def metadata_problems(metadata: object) -> list[str]:
    if not isinstance(metadata, dict):
        return ["metadata must be an object"]
    problems = [
        f"metadata value of {key} must be a string" for key, v in metadata.items() if not isinstance(v, str)
    ]
    strings = {key: value for key, value in metadata.items() if isinstance(value, str)}
    return problems + model.metadata_problems(strings)


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
        if body.get(url) is not None:
            value = body[url]
            problems += (
                model.url_problems(url, value) if isinstance(value, str) else [f"{url} must be a string"]
            )
    if body.get("metadata") is not None:
        problems.extend(metadata_problems(body["metadata"]))
    if body.get("expires_at") is not None and wire_time(body["expires_at"]) is None:
        problems.append("expires_at must be an ISO 8601 time")
    return problems


def wire_time(value: object) -> dt.datetime | None:
    """An ISO 8601 time from a body (UTC), None when it is not one."""
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None


# --- the server --------------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # concurrent clients must not wait for SYN retransmits
    # What serves a request: the imitation's ``handle``.
    serve: Callable[[Handler], None]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out closed its socket while we slept: that is the point of the fault.
        logger.debug("imitation: connection from %s ended abruptly", client_address)


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("imitation: " + format, *args)

    def _dispatch(self) -> None:
        self.server.serve(self)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def send_json(self, status: int, body: Any) -> None:
        self.send_bytes(status, json.dumps(body).encode(), "application/json; charset=utf-8")

    def send_html(self, status: int, page: str) -> None:
        self.send_bytes(status, page.encode(), "text/html; charset=utf-8")

    def send_bytes(self, status: int, data: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)
