"""``RecurrenteGateway``: the ``PaymentGateway`` port over Recurrente's HTTP API (httpx, blocking).

Every call has a timeout. Only idempotent reads (GET) are retried, with a short exponential
backoff, on connection errors, timeouts, 5xx, 408/429 and unreadable bodies: Recurrente
documents no idempotency keys, so a repeated POST could create a second checkout or refund.
Failures map to core errors and no httpx exception crosses the port:

- 404 → ``GatewayNotFound``; 401/403/422 and any other 4xx (or an unexpected 3xx, or a body
  of the wrong shape) → ``GatewayError`` with the provider's ``message``/``errors``;
- 5xx, 408, 429, timeouts, connection trouble, unreadable JSON → ``GatewayUnavailable``.

The keys are sent as ``X-PUBLIC-KEY``/``X-SECRET-KEY`` and appear in no message, log line or
repr. Request bodies are checked against Recurrente's limits before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import httpx

from webmagic_adapters.payments import models
from webmagic_adapters.payments.recurrente_events import SUBSCRIPTION_PAYMENTABLE
from webmagic_core.errors import ValidationError
from webmagic_core.money import Money
from webmagic_core.payments.gateway import (
    Checkout,
    CheckoutInfo,
    CheckoutKind,
    CheckoutRequest,
    CheckoutStatus,
    GatewayError,
    GatewayNotFound,
    GatewayUnavailable,
    SubscriptionInfo,
    SubscriptionStatus,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E", bound=enum.StrEnum)

CURRENCIES = frozenset({"USD", "GTQ"})
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
MAX_LIST_PAGES = 50  # a reconciliation pass reads at most this many pages of checkouts
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what an HTTP header value may hold
_RETRYABLE_STATUS = frozenset({408, 429})
_MAX_DETAIL = 500


def check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Recurrente's metadata limits (≤ 50 keys, key ≤ 40, value ≤ 500 characters, strings)."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValidationError(
            f"checkout metadata has {len(metadata)} keys; at most {MAX_METADATA_KEYS} are allowed",
            field="metadata",
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise ValidationError("checkout metadata keys must be non-empty strings", field="metadata")
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise ValidationError(
                f"checkout metadata key {key[:MAX_METADATA_KEY_LENGTH]!r}... is longer than "
                f"{MAX_METADATA_KEY_LENGTH} characters",
                field="metadata",
            )
        if not isinstance(value, str):
            raise ValidationError(f"checkout metadata value of {key!r} must be a string", field="metadata")
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise ValidationError(
                f"checkout metadata value of {key!r} is longer than {MAX_METADATA_VALUE_LENGTH} characters",
                field="metadata",
            )
    return dict(metadata)


def checkout_body(request: CheckoutRequest) -> models.CreateCheckoutBody:
    """The ``POST /checkouts`` body for ``request``: one item, one-time or monthly."""
    if not request.item_name.strip():
        raise ValidationError("the checkout item needs a name", field="item_name")
    if request.amount.currency not in CURRENCIES:
        raise ValidationError(
            f"Recurrente charges in {' or '.join(sorted(CURRENCIES))}, not {request.amount.currency}",
            field="amount",
        )
    if request.amount.amount_in_cents <= 0:
        raise ValidationError("the checkout amount must be positive", field="amount")
    metadata = check_metadata(request.metadata)
    expires_at = None
    if request.expires_at is not None:
        if request.expires_at.tzinfo is None or request.expires_at.utcoffset() is None:
            raise ValidationError("the checkout expiry must be timezone-aware", field="expires_at")
        try:
            expires_at = models.format_datetime(request.expires_at)
        except OverflowError:
            raise ValidationError("the checkout expiry is out of range", field="expires_at") from None
    recurring = request.kind is CheckoutKind.MONTHLY
    trial = request.free_trial
    if trial is not None and not recurring:
        raise ValidationError("only a recurring item can have a free trial", field="free_trial")
    item = models.CheckoutItemBody(
        name=request.item_name,
        currency=request.amount.currency,
        amount_in_cents=request.amount.amount_in_cents,
        quantity=1,
        description=request.description,
        charge_type="recurring" if recurring else None,
        billing_interval="month" if recurring else None,
        billing_interval_count=1 if recurring else None,
        free_trial_interval=trial.interval.value if trial is not None else None,
        free_trial_interval_count=trial.count if trial is not None else None,
    )
    return models.CreateCheckoutBody(
        items=[item],
        success_url=request.success_url,
        cancel_url=request.cancel_url,
        metadata=metadata,
        expires_at=expires_at,
    )


def _enum(kind: type[E], value: str, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise GatewayError(f"Recurrente answered an unknown {what} status {value[:40]!r}") from None


def checkout_info(body: models.CheckoutBody) -> CheckoutInfo:
    amount = None
    if body.total_in_cents is not None and body.currency is not None:
        try:
            amount = Money(body.total_in_cents, body.currency)
        except ValidationError as error:
            raise GatewayError(f"Recurrente answered a checkout with {error.detail}") from None
    payment = body.payment
    paymentable = payment.paymentable if payment is not None else None
    return CheckoutInfo(
        id=body.id,
        status=_enum(CheckoutStatus, body.status, "checkout"),
        amount=amount,
        live_mode=body.live_mode,
        metadata=models.metadata_strings(body.metadata),
        payment_id=payment.id if payment is not None else None,
        subscription_id=(
            paymentable.id
            if paymentable is not None and paymentable.type == SUBSCRIPTION_PAYMENTABLE
            else None
        ),
        expires_at=body.expires_at,
        created_at=body.created_at,
    )


def checkout_list(data: Any) -> list[Any]:
    """The checkouts of one ``GET /checkouts`` page: a JSON array, or an object holding
    one under ``checkouts``, ``data`` or ``items`` (the documentation shows no example)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("checkouts", "data", "items"):
            if isinstance(data.get(key), list):
                return list(data[key])
    raise GatewayError("Recurrente answered the checkout list with an unexpected shape")


def subscription_info(body: models.SubscriptionBody) -> SubscriptionInfo:
    return SubscriptionInfo(
        id=body.id,
        status=_enum(SubscriptionStatus, body.status, "subscription"),
        current_period_start=body.current_period_start,
        current_period_end=body.current_period_end,
        next_payment_attempt_at=body.next_payment_attempt_at,
        checkout_id=body.checkout.id if body.checkout is not None else None,
        customer_email=body.subscriber.email if body.subscriber is not None else None,
    )


def _check_key(value: str, name: str) -> str:
    if not _HEADER_SAFE.fullmatch(value):
        # Never echo the key: say only what kind of problem it has.
        raise ValueError(f"the Recurrente {name} key is empty or holds spaces or non-ASCII characters")
    return value


def _mode(public_key: str) -> str:
    if public_key.startswith("pk_live_"):
        return "live"
    if public_key.startswith("pk_test_"):
        return "test"
    return "unknown"


class RecurrenteGateway:
    """Implements ``PaymentGateway``. Thread-safe; the HTTP client is made on first use."""

    def __init__(
        self,
        api_base: str,
        public_key: str,
        secret_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(api_base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the Recurrente API base must be an http(s) URL, not {api_base!r}")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be positive, retries and backoff not negative")
        self.api_base = api_base.rstrip("/")
        self._public_key = _check_key(public_key, "public")
        self._secret_key = _check_key(secret_key, "secret")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._transport = transport
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RecurrenteGateway(api_base={self.api_base!r}, mode={_mode(self._public_key)!r})"

    @property
    def mode(self) -> str:
        """``test`` or ``live`` as the public key says (``unknown`` for other keys)."""
        return _mode(self._public_key)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> RecurrenteGateway:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the port ------------------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        body = models.converter.unstructure(checkout_body(request))
        data = self._call("POST", "/checkouts", "create a checkout", json_body=body)
        created = self._structure(data, models.CreatedCheckoutBody, "create a checkout")
        return Checkout(id=created.id, url=created.checkout_url)

    def get_checkout(self, checkout_id: str) -> CheckoutInfo:
        path = f"/checkouts/{self._id(checkout_id, 'checkout')}"
        data = self._call("GET", path, "read a checkout")
        return checkout_info(self._structure(data, models.CheckoutBody, "read a checkout"))

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        path = f"/subscriptions/{self._id(subscription_id, 'subscription')}"
        data = self._call("GET", path, "read a subscription")
        return subscription_info(self._structure(data, models.SubscriptionBody, "read a subscription"))

    def cancel_subscription(self, subscription_id: str) -> None:
        """Idempotent: a subscription that is already cancelled counts as done (a caller that
        timed out may cancel again, whatever the provider answers to a second DELETE)."""
        path = f"/subscriptions/{self._id(subscription_id, 'subscription')}"
        try:
            self._call("DELETE", path, "cancel a subscription")
        except GatewayNotFound:
            raise
        except GatewayError as refusal:
            if refusal.status is None or not 400 <= refusal.status < 500:
                raise
            try:
                cancelled = self.get_subscription(subscription_id).status is SubscriptionStatus.CANCELLED
            except (GatewayError, GatewayUnavailable):
                cancelled = False
            if not cancelled:
                raise

    def refund(self, payment_id: str) -> None:
        body = models.converter.unstructure(models.RefundBody(payment_intent_id=payment_id))
        self._call("POST", "/refunds", "refund a payment", json_body=body)

    def expire_checkout(self, checkout_id: str, at: dt.datetime) -> None:
        """``PATCH /checkouts/{id}`` with ``expires_at``: a paid checkout is refused (422)."""
        path = f"/checkouts/{self._id(checkout_id, 'checkout')}"
        body = models.converter.unstructure(models.UpdateCheckoutBody(models.format_datetime(at)))
        self._call("PATCH", path, "close a checkout", json_body=body)

    def list_checkouts(self, since: dt.datetime, *, limit: int = 500) -> Sequence[CheckoutInfo]:
        """Every page of ``GET /checkouts?from_time=`` until one is empty or ``limit`` is reached."""
        found: list[CheckoutInfo] = []
        query = {"from_time": models.format_datetime(since)}
        for page in range(1, MAX_LIST_PAGES + 1):
            path = f"/checkouts?{urlencode({**query, 'page': page})}"
            data = self._call("GET", path, "list checkouts")
            rows = checkout_list(data)
            for row in rows:
                found.append(checkout_info(self._structure(row, models.CheckoutBody, "list checkouts")))
            if not rows or len(found) >= limit:
                break
        return found[:limit]

    def check_connection(self) -> str:
        """``GET /test``: the provider's greeting (``Hello <account>``) when the keys work."""
        data = self._call("GET", "/test", "check the connection")
        message = self._structure(data, models.MessageBody, "check the connection").message
        return message or ""

    # --- plumbing ------------------------------------------------------------------------

    @staticmethod
    def _id(value: str, what: str) -> str:
        # Ids go into the path: anything but Recurrente's id alphabet cannot name a record.
        if not _ID.fullmatch(value):
            raise GatewayNotFound(f"{value[:40]!r} is not a Recurrente {what} id", status=None)
        return quote(value, safe="")

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self.api_base,
                    headers={
                        "X-PUBLIC-KEY": self._public_key,
                        "X-SECRET-KEY": self._secret_key,
                        "Content-Type": "application/json",
                        "Accept": "application/json",
                        "User-Agent": "webmagic",
                    },
                    timeout=httpx.Timeout(self.timeout),
                    follow_redirects=False,
                    transport=self._transport,
                )
            return self._client

    def _call(self, method: str, path: str, what: str, *, json_body: Any = None) -> Any:
        attempts = 1 + (self.retries if method == "GET" else 0)
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(method, path, what, json_body)
            except GatewayUnavailable as error:
                if attempt == attempts:
                    raise
                delay = self.backoff * 2 ** (attempt - 1)
                logger.warning(
                    "Recurrente %s %s failed (%s); retry %d of %d in %.2f s",
                    method, path, error.detail, attempt, attempts - 1, delay,
                )  # fmt: skip
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, method: str, path: str, what: str, json_body: Any) -> Any:
        content = None
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False, allow_nan=False).encode()
        # Errors are raised outside the ``except`` blocks so they carry no ``__context__``: the
        # httpx error holds the request, and the request holds the keys.
        failure: GatewayError | GatewayUnavailable | None = None
        try:
            response = self._http().request(method, path, content=content)
        except httpx.TimeoutException:
            failure = GatewayUnavailable(f"Recurrente did not answer in time ({self.timeout:g} s) to {what}")
        except httpx.HTTPError as error:
            failure = GatewayUnavailable(
                f"could not reach Recurrente to {what}: {type(error).__name__}: {self._scrub(str(error))}"
            )
        except (httpx.InvalidURL, httpx.StreamError) as error:
            failure = GatewayError(f"cannot {what}: {type(error).__name__}: {self._scrub(str(error))}")
        if failure is not None:
            raise failure
        status = response.status_code
        logger.debug("Recurrente %s %s -> %d", method, path, status)
        if 200 <= status < 300:
            return self._json(response, status, what)
        detail = self._error_detail(response)
        if status == 404:
            raise GatewayNotFound(
                f"Recurrente does not know it, cannot {what} (404): {detail}", status=status
            )
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise GatewayUnavailable(f"Recurrente failed to {what} ({status}): {detail}")
        raise GatewayError(f"Recurrente refused to {what} ({status}): {detail}", status=status)

    @staticmethod
    def _json(response: httpx.Response, status: int, what: str) -> Any:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            pass
        # A truncated body or a proxy's HTML page: likely to pass, so transient.
        raise GatewayUnavailable(f"Recurrente answered {status} with unreadable JSON to {what}")

    def _structure(self, data: Any, kind: type[T], what: str) -> T:
        if not isinstance(data, dict):
            raise GatewayError(f"Recurrente answered an unexpected body to {what}: not a JSON object")
        try:
            return models.converter.structure(data, kind)
        except Exception as error:  # cattrs wraps each field's error in a group
            problem = self._scrub(models.describe_structure_error(error))
        raise GatewayError(f"Recurrente answered an unexpected body to {what}: {problem}")

    def _error_detail(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            data = None
        parts: list[str] = []
        if isinstance(data, dict):
            for key in ("message", "error"):
                if isinstance(data.get(key), str) and data[key].strip():
                    parts.append(data[key].strip())
            errors = data.get("errors")
            if isinstance(errors, list):
                parts.extend(str(e) for e in errors if e)
            elif isinstance(errors, dict):
                for field, problems in errors.items():
                    listed = problems if isinstance(problems, list) else [problems]
                    parts.append(f"{field}: {', '.join(str(p) for p in listed)}")
            elif isinstance(errors, str) and errors:
                parts.append(errors)
        detail = "; ".join(parts) or response.reason_phrase or "no message"
        return self._scrub(detail)[:_MAX_DETAIL]

    def _scrub(self, text: str) -> str:
        # The provider has no reason to echo a key, but make sure no message ever carries one.
        for key in (self._secret_key, self._public_key):
            text = text.replace(key, "***")
        return text
