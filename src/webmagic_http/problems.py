"""The one place where errors become HTTP responses: RFC 9457 problem details.

Core errors (``webmagic_core.errors``) and Litestar's own (validation, 404, 405, ...)
are turned into ``application/problem+json`` documents with ``title``, ``status``,
``detail`` and, for validation errors, ``errors`` naming each field. Unexpected
exceptions are logged here and answered with a generic 500: no stack trace, no
internals. The only HTML errors are the neutral "not found" and "temporarily unavailable"
pages for paths that are not the application's own (site addresses), so a visitor of a
site sees a page, never JSON.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ServiceUnavailableException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from webmagic_core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Throttled,
    TransientError,
    Unauthenticated,
    ValidationError,
    WebMagicError,
)
from webmagic_core.payments.gateway import GatewayError, GatewayUnavailable
from webmagic_core.payments.webhooks import InvalidSignature
from webmagic_http.auth import BearerTokenRejected
from webmagic_http.hosts import is_api_path, is_sites_host
from webmagic_http.render import NOT_FOUND_PAGE, UNAVAILABLE_PAGE

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TRANSIENT_RETRY_AFTER = "5"

# Headers of every hosting error page (404 and 503), so that all 404s look the same.
ERROR_PAGE_HEADERS: Mapping[str, str] = {
    "cache-control": "no-store",
    "x-robots-tag": "noindex",
    "x-content-type-options": "nosniff",
}

_CORE_STATUS: tuple[tuple[type[WebMagicError], int], ...] = (
    (Unauthenticated, 401),
    (Throttled, 429),
    (NotFound, 404),
    (Conflict, 409),  # InvalidTransition is a Conflict
    (PermissionDenied, 403),
    (InvalidSignature, 400),  # a webhook refused: missing headers, bad or stale signature
    (ValidationError, 400),  # InvalidToken (a bad email link) is a ValidationError on "token"
    (GatewayUnavailable, 503),  # the payment provider is down or slow: try again later
    (TransientError, 503),
    (GatewayError, 502),  # the payment provider refused a request (GatewayNotFound included)
)
# What a client is told when the payment provider refused a request: its own message may
# name the shop's configuration (bad keys), so it goes to the log, not to the buyer.
GATEWAY_REFUSED = "The payment provider refused the request; try again later."

# RFC 6750: a 401 names the scheme; "invalid_token" when a presented access token failed.
BEARER_CHALLENGE = 'Bearer realm="webmagic"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="webmagic", error="invalid_token"'  # noqa: S105 - not a secret


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """An ``application/problem+json`` response."""
    body: dict[str, Any] = {"title": title or HTTPStatus(status).phrase, "status": status, "detail": detail}
    if type_ is not None:
        body["type"] = type_
    if errors:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem document (for the OpenAPI schema; responses are built as dicts)."""

    title: str
    status: int
    detail: str
    type: str | None = None
    errors: list[dict[str, str]] | None = None


def problem_spec(description: str) -> ResponseSpec:
    """An OpenAPI response entry for a problem document."""
    return ResponseSpec(data_container=Problem, description=description, media_type=PROBLEM_JSON)


def not_found_page() -> Response[bytes]:
    headers = dict(ERROR_PAGE_HEADERS)
    # Litestar appends "; charset=utf-8" to text/* media types itself.
    return Response(NOT_FOUND_PAGE, status_code=404, media_type="text/html", headers=headers)


def unavailable_page(retry_after: str) -> Response[bytes]:
    headers = {**ERROR_PAGE_HEADERS, "retry-after": retry_after}
    return Response(UNAVAILABLE_PAGE, status_code=503, media_type="text/html", headers=headers)


def core_status(exc: WebMagicError) -> int:
    """The HTTP status of a refusal of the core (500 for one no rule names): the API's
    problem documents and the portal's pages answer with the same."""
    return next((code for kind, code in _CORE_STATUS if isinstance(exc, kind)), 500)


def _core_error(exc: WebMagicError) -> Response[Any]:
    status = core_status(exc)
    if status == 500:
        log.error("unmapped core error %s: %s", type(exc).__name__, exc.detail)
        return problem_response(500, "The server failed to handle this request.")
    if isinstance(exc, GatewayError):
        log.error("payment provider error (%s): %s", type(exc).__name__, exc.detail)
        return problem_response(status, GATEWAY_REFUSED)
    errors = None
    if isinstance(exc, ValidationError) and exc.field:
        errors = [{"field": exc.field, "message": exc.detail}]
    return problem_response(status, exc.detail, errors=errors, headers=_core_error_headers(exc, status))


def _core_error_headers(exc: WebMagicError, status: int) -> dict[str, str] | None:
    if isinstance(exc, Unauthenticated):
        rejected = isinstance(exc, BearerTokenRejected)
        return {"www-authenticate": INVALID_TOKEN_CHALLENGE if rejected else BEARER_CHALLENGE}
    if isinstance(exc, Throttled):
        return {"retry-after": str(exc.retry_after)}
    if status == 503:
        return {"retry-after": TRANSIENT_RETRY_AFTER}
    return None


_MISSING_PARAMETER = re.compile(r"^Missing required (?:\w+ )?parameter '([^']+)'")


def _validation_errors(exc: HTTPException) -> list[dict[str, str]] | None:
    """Field errors of Litestar's validation: ``extra`` is ``[{"message", "key", "source"}, ...]``;
    a missing parameter only says so in its detail."""
    errors: list[dict[str, str]] = []
    if isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict) and "message" in item:
                entry = {"message": str(item["message"])}
                if item.get("key"):
                    entry["field"] = str(item["key"])
                errors.append(entry)
    elif exc.status_code == 400 and (match := _MISSING_PARAMETER.match(exc.detail)):
        errors.append({"field": match[1], "message": "this parameter is required"})
    return errors or None


def exception_handlers(sites_domain: str | None) -> ExceptionHandlersMap:
    """Handlers for the app; ``sites_domain`` decides where a 404 is a page, not a problem."""

    def wants_page(request: Request[Any, Any, Any]) -> bool:
        return is_sites_host(request.scope, sites_domain) or not is_api_path(request.scope["path"])

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        status = exc.status_code
        if status == 404 and wants_page(request):
            return not_found_page()
        if status >= 500 and not isinstance(exc, ServiceUnavailableException):
            log.error("HTTP %s on %s %s: %s", status, request.method, request.url.path, exc.detail)
            return problem_response(status, "The server failed to handle this request.")
        detail = exc.detail
        if status == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
            detail = "Nothing exists at this address."
        elif status == 405:
            detail = f"{request.method} is not allowed here."
        errors = _validation_errors(exc)
        if errors and detail.startswith("Validation failed for"):
            # Litestar's detail repeats the URL; name the fields instead.
            detail = "Invalid request: " + "; ".join(
                f"{error.get('field', 'body')}: {error['message']}" for error in errors
            )
        return problem_response(status, detail, errors=errors, headers=exc.headers)

    def core_error(request: Request[Any, Any, Any], exc: WebMagicError) -> Response[Any]:
        # A visitor of a site sees a page, whatever went wrong behind it.
        if isinstance(exc, NotFound) and wants_page(request):
            return not_found_page()
        if isinstance(exc, TransientError) and wants_page(request):
            return unavailable_page(TRANSIENT_RETRY_AFTER)
        return _core_error(exc)

    def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "The server failed to handle this request.")

    handlers: dict[type[Exception], Callable[[Request[Any, Any, Any], Any], Response[Any]]] = {
        HTTPException: http_error,
        WebMagicError: core_error,
        Exception: unexpected,
    }
    return handlers  # type: ignore[return-value]
