"""What the route modules share: body limits and the Bearer scheme of the JSON API, the
client address throttling counts against, the headers and renderer of the standalone HTML
pages (purchase, sandbox, subscription return), and money as people read it.

Route modules import these from here, never from each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import CacheControlHeader
from litestar.params import URLEncodedBody
from litestar.response import Template

from webmagic_adapters.bootstrap import format_money
from webmagic_core.money import Money

# JSON bodies of the API are small; anything bigger is refused before it is read.
MAX_BODY_BYTES = 16 * 1024
BEARER_SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}]
NO_STORE = CacheControlHeader(no_store=True)
# Where the provider posts its events (the sandbox delivers its own there too).
WEBHOOK_PATH = "/api/v1/webhooks/recurrente"
# While a payment has not arrived, a thank-you or return page reloads itself this often (s).
REFRESH_SECONDS = 5

Form = URLEncodedBody[dict[str, str]]


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address throttling counts against: ``request.client.host``. Behind a reverse
    proxy that is the proxy's address unless the ASGI server trusts its forwarding headers
    (uvicorn ``--proxy-headers --forwarded-allow-ips=<proxy>``; otherwise every client
    would share one budget)."""
    client = request.client
    return client.host if client is not None and client.host else "unknown"


def page_headers(public_url: str) -> dict[str, str]:
    """Headers of every purchase and sandbox page. A form's redirect is checked against
    ``form-action`` too, so the checkout's origin (https, or the app's own) is allowed."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(public_url))
    return {
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "x-robots-tag": "noindex",
        "content-security-policy": (
            f"default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https: {origin}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
    }


def html_page(template: str, headers: Mapping[str, str], status: int = 200, **context: Any) -> Template:
    context.setdefault("refresh", None)
    return Template(
        template_name=template,
        context=context,
        status_code=status,
        headers=dict(headers),
        media_type="text/html",
    )


def money_text(value: Money) -> str:
    """Money for people, as everywhere else (``webmagic_adapters.money_format``)."""
    return format_money(value)
