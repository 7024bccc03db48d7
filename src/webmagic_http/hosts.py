"""The host split: sites on ``WEBMAGIC_SITES_DOMAIN``, the API everywhere else.

A site's scripts must never share an origin with the API, so when a sites domain is
configured each route belongs to one side: routes marked ``opt={AREA: SITES}`` answer
only on the sites host, routes marked ``ANY_HOST`` (``/healthz``) on both, and every
other route (API, OpenAPI schema) only on the other hosts. A route asked for on the
wrong side answers 404, as if it did not exist there. With no sites domain configured
the middleware is not installed and everything answers on one host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

AREA = "webmagic_area"
SITES = "sites"
ANY_HOST = "any"

# Paths that belong to the application itself: errors there are problem+json, never a page.
API_PATHS = frozenset({"/api", "/schema", "/internal", "/healthz", "/readyz"})
API_PREFIXES = ("/api/", "/schema/", "/internal/")


def request_host(scope: Scope) -> str | None:
    """The request's host name, lower-cased, without port or trailing dot."""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            if host.startswith("["):  # [::1]:8000
                end = host.find("]")
                host = host[: end + 1] if end > 0 else host
            else:
                host = host.partition(":")[0]
            return host.rstrip(".") or None
    return None


def is_sites_host(scope: Scope, sites_domain: str | None) -> bool:
    return sites_domain is not None and request_host(scope) == sites_domain


def is_api_path(path: str) -> bool:
    return path in API_PATHS or path.startswith(API_PREFIXES)


class HostSplitMiddleware:
    """Answers 404 for a route requested on the wrong side of the host split."""

    def __init__(self, app: ASGIApp, sites_domain: str) -> None:
        self.app = app
        self.sites_domain = sites_domain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            handler = scope.get("route_handler")
            area = handler.opt.get(AREA) if handler is not None else None
            if area != ANY_HOST and (area == SITES) != is_sites_host(scope, self.sites_domain):
                raise NotFoundException()
        await self.app(scope, receive, send)
