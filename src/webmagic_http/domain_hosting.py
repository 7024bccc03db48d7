"""Serving by ``Host``: a verified or failing custom domain serves its site at ``/``,
``/styles.css`` and ``/app.js``; and ``GET /internal/tls/ask`` for Caddy's on-demand TLS.

``CustomDomainHosts`` wraps the application's ASGI handler (in front of routing, so ``/``
reaches it): for a ``Host`` that is none of our own names and not an IP address, it asks
the ``HostDirectory`` -- one lookup, the same kind as hosting's slug lookup, so a request
by custom domain costs no more database work than one by path -- and, when the name is a
served domain, answers through ``Hosting.serve`` exactly as ``/{slug}`` would (lifecycle
table, page cache, ETag / 304), with the assets linked from ``/``. Every other path on a
custom domain is 404: the API never answers on an owner's domain, whose scripts must not
share an origin with it. A host that is not a served custom domain goes on to the app.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import Any

import anyio.to_thread
from litestar import Response, get
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from webmagic_core.domains.ports import HostDirectory
from webmagic_core.lifecycle import ServeMode
from webmagic_core.services.domains import DomainService, resolve_head_for_host
from webmagic_core.services.sites import Resolution
from webmagic_http.hosting import Asset, Hosting, RawResponse
from webmagic_http.hosts import ANY_HOST, AREA, request_host

TLS_ASK_PATH = "/internal/tls/ask"
ASSETS = {"/": Asset.PAGE, "/index.html": Asset.PAGE, "/styles.css": Asset.CSS, "/app.js": Asset.JS}
_METHOD_NOT_ALLOWED = RawResponse(
    405,
    [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"18")],
    b"Method Not Allowed",
)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class CustomDomainHosts:
    """ASGI wrapper answering requests whose ``Host`` is a served custom domain."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        directory: HostDirectory,
        hosting: Hosting,
        own_hosts: Collection[str],
        offload: bool,
    ) -> None:
        self.app = app
        self.directory = directory
        self.hosting = hosting
        # localhost: health checks and the TLS front's ``ask`` come from the machine itself.
        self.own_hosts = frozenset({*own_hosts, "localhost"})
        self.offload = offload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            host = request_host(scope)
            if host is not None and host not in self.own_hosts and not _is_ip(host):
                if self.offload:
                    resolution = await anyio.to_thread.run_sync(resolve_head_for_host, self.directory, host)
                else:
                    resolution = resolve_head_for_host(self.directory, host)
                if resolution.mode is not ServeMode.NOT_FOUND:
                    await self._respond(scope, resolution)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _respond(self, scope: HTTPScope, resolution: Resolution) -> RawResponse:
        if scope["method"] not in ("GET", "HEAD"):
            return _METHOD_NOT_ALLOWED
        asset = ASSETS.get(scope["path"])
        if asset is None:
            # Not one of the site's files: the same 404 page as an unknown slug.
            return self.hosting.serve(scope, Asset.PAGE, Resolution(ServeMode.NOT_FOUND))
        return self.hosting.serve(scope, asset, resolution, prefix="/")


def tls_ask_route(domains: DomainService, *, offload: bool) -> HTTPRouteHandler:
    """``GET /internal/tls/ask?domain=NAME``: 200 only for a verified or failing domain of
    a site that is not archived, 404 otherwise; no DNS lookup, one directory read."""

    @get(
        TLS_ASK_PATH,
        sync_to_thread=offload,
        include_in_schema=False,
        opt={AREA: ANY_HOST},
        name="tls-ask",
    )
    def tls_ask(domain: FromQuery[str | None] = None) -> Response[Any]:
        if domain is None or not domains.may_have_certificate(domain):
            raise NotFoundException(detail="not a verified custom domain of a live site")
        return Response({"domain": domain, "allowed": True}, headers={"cache-control": "no-store"})

    return tls_ask
