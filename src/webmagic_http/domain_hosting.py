"""Serving by ``Host``: a verified or failing custom domain serves its site at ``/`` and
every file of its current version at ``/{path}``; and ``GET /internal/tls/ask`` for Caddy's
on-demand TLS.

``CustomDomainHosts`` wraps the application's ASGI handler (in front of routing, so ``/``
reaches it): for a ``Host`` that is none of our own names and not an IP address, it asks
the ``HostDirectory`` -- one lookup, the same kind as hosting's slug lookup, so a request
by custom domain costs no more database work than one by path -- and, when the name is a
served domain, answers through ``Hosting.serve`` exactly as ``/{slug}`` would (lifecycle
table, page cache, ETag / 304), with the files as the rewriter prepared them for a domain's
root (references linked from ``/``). A path that is not a file of the site is 404: the API
never answers on an owner's domain, whose scripts must not share an origin with it.

A host that is neither ours nor a served custom domain is answered 404 (an HTML page, or a
problem document on API paths) when the app runs under a real public name: a name someone
else points at our address must not show our sites or API under it. Only the health probes
answer on any name, and a bare IP address is let through (probes and the TLS front's
``ask`` come from the machine itself). While the public URL is a loopback address (a
developer's machine, the tests) any host name goes on to the app.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from litestar import Response, get
from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from webmagic_core.domains.ports import HostDirectory
from webmagic_core.errors import TransientError
from webmagic_core.lifecycle import ServeMode
from webmagic_core.services.domains import DomainService, resolve_head_for_host
from webmagic_core.services.sites import Resolution
from webmagic_http.hosting_counter import count_hosting
from webmagic_http.hosts import ANY_HOST, AREA, is_api_path, request_host
from webmagic_http.problems import ERROR_PAGE_HEADERS
from webmagic_http.render import UNAVAILABLE_PAGE
from webmagic_http.site_hosting import Hosting
from webmagic_http.site_responses import RawResponse, request_path

TLS_ASK_PATH = "/internal/tls/ask"
# Probes of the process and the database answer on any host, without a domain lookup.
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
_METHOD_NOT_ALLOWED = RawResponse(
    405,
    [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"18")],
    b"Method Not Allowed",
)

_BUSY_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", str(len(UNAVAILABLE_PAGE)).encode()),
    *((name.encode(), value.encode()) for name, value in ERROR_PAGE_HEADERS.items()),
    (b"retry-after", b"30"),
]
_BUSY = RawResponse(503, _BUSY_HEADERS, UNAVAILABLE_PAGE)
_BUSY_HEAD = RawResponse(503, _BUSY_HEADERS, b"")


_UNKNOWN_HOST_BODY = json.dumps(
    {"title": "Not Found", "status": 404, "detail": "this host name is not served here"}
).encode()
_UNKNOWN_HOST_HEADERS = [
    (b"content-type", b"application/problem+json"),
    (b"content-length", str(len(_UNKNOWN_HOST_BODY)).encode()),
    (b"cache-control", b"no-store"),
]
_UNKNOWN_HOST = RawResponse(404, _UNKNOWN_HOST_HEADERS, _UNKNOWN_HOST_BODY)
_UNKNOWN_HOST_HEAD = RawResponse(404, _UNKNOWN_HOST_HEADERS, b"")


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine (a developer's or a test's server)."""
    host = (urlsplit(url).hostname or "").lower()
    return host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host.strip("[]")).is_loopback)


# Asked on every request whose Host is not one of ours (an IP address, typically: a health
# check, a proxy, a benchmark); bounded, as Host is the client's to choose.
@functools.lru_cache(maxsize=1024)
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
        strict: bool = False,
    ) -> None:
        self.app = app
        self.directory = directory
        self.hosting = hosting
        # localhost: health checks and the TLS front's ``ask`` come from the machine itself.
        self.own_hosts = frozenset({*own_hosts, "localhost"})
        self.offload = offload
        self.strict = strict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["path"] not in HEALTH_PATHS:
            host = request_host(scope)
            if host is not None and host not in self.own_hosts and not _is_ip(host):
                try:
                    if self.offload:
                        resolution = await anyio.to_thread.run_sync(
                            resolve_head_for_host, self.directory, host
                        )
                    else:
                        resolution = resolve_head_for_host(self.directory, host)
                except TransientError:
                    if is_api_path(scope["path"]):
                        # The app answers (and reports the fault) itself.
                        await self.app(scope, receive, send)
                        return
                    # A visitor of a site: the page a suspended site shows, 503 + Retry-After.
                    resolution = Resolution(ServeMode.UNAVAILABLE)
                if resolution.mode is not ServeMode.NOT_FOUND:
                    response = self._respond(scope, resolution)
                    count_hosting(response.status)
                    await response(scope, receive, send)
                    return
                if self.strict:
                    await self._unknown_host(scope)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _unknown_host(self, scope: HTTPScope) -> RawResponse:
        if is_api_path(scope["path"]):
            return _UNKNOWN_HOST_HEAD if scope["method"] == "HEAD" else _UNKNOWN_HOST
        return self.hosting.serve(scope, None, Resolution(ServeMode.NOT_FOUND))

    def _respond(self, scope: HTTPScope, resolution: Resolution) -> RawResponse:
        if resolution.site is None:  # the database could not say
            return _BUSY_HEAD if scope["method"] == "HEAD" else _BUSY
        if scope["method"] not in ("GET", "HEAD"):
            return _METHOD_NOT_ALLOWED
        # Files only: a path that names none (the API, the portal...) is the 404 page.
        return self.hosting.serve(scope, request_path(scope["path"]), resolution, root=True)


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
