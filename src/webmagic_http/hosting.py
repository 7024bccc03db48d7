"""Hosting: ``GET /{slug}``, ``/{slug}/styles.css`` and ``/{slug}/app.js``.

What a site's status means for hosting comes from the core (``SiteService.resolve``
asks the lifecycle policy); this module only turns the answer into bytes and headers.

Hot path, per request: one head lookup through the core's ``SiteDirectory`` (so a new
version or status shows on the next request, also across processes sharing one
database; ~3 µs on SQLite), one page-cache lookup, an ETag comparison, and a pre-encoded
response sent straight to ASGI. The routes are ``HostingRoute`` handlers, which skip
Litestar's per-request argument parsing and ``Response`` building: in a local in-process
check (SQLite, 1,000 sites) a whole ``GET /{slug}`` through the app costs ~20 µs of CPU,
against ~25 µs for a bare Litestar route returning the same bytes from memory
(benchmarks/hosting.py measures the whole server).

Where the head lookup runs depends on the database (``offload`` in ``hosting_routes``):
on SQLite it is a local read that never waits on a network, and handing it to a worker
thread would add ~150 µs per request (measured), so it runs inline on the event loop; on
a network database (PostgreSQL) a round trip may take milliseconds and would stall every
other request, so it runs in a worker thread.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio.to_thread
from litestar import HttpMethod, Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from webmagic_core.lifecycle import ServeMode
from webmagic_core.services.sites import Resolution, SiteService
from webmagic_core.slugs import is_valid_slug
from webmagic_http.hosts import AREA, SITES
from webmagic_http.page_cache import PageCache
from webmagic_http.problems import ERROR_PAGE_HEADERS
from webmagic_http.render import NOT_FOUND_PAGE, UNAVAILABLE_PAGE, banner_html, render_page

if TYPE_CHECKING:
    from webmagic_core.ports import SiteHead

Headers = list[tuple[bytes, bytes]]

# Pages change when a version is published, so browsers must revalidate (cheap: 304).
CACHE_CONTROL = b"no-cache"
RETRY_AFTER_SECONDS = 3600


class Asset(enum.Enum):
    """What a hosting route serves; the value is its content type."""

    PAGE = b"text/html; charset=utf-8"
    CSS = b"text/css; charset=utf-8"
    JS = b"text/javascript; charset=utf-8"


class RawResponse:
    """A pre-encoded response, sent as two ASGI events with nothing in between."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class RenderedPage:
    """One cached rendering: its bytes, strong ETag and pre-encoded response headers."""

    __slots__ = ("body", "etag", "not_modified", "not_modified_headers", "ok", "ok_head", "size")

    def __init__(self, body: bytes, content_type: bytes, *, noindex: bool) -> None:
        self.body = body
        self.etag = b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'
        common: Headers = [(b"etag", self.etag), (b"cache-control", CACHE_CONTROL)]
        if noindex:
            common.append((b"x-robots-tag", b"noindex"))
        self.not_modified_headers = common
        ok_headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            *common,
        ]
        self.ok = RawResponse(200, ok_headers, body)
        self.ok_head = RawResponse(200, ok_headers, b"")
        self.not_modified = RawResponse(304, common, b"")
        self.size = len(body) + 256  # a rough allowance for the entry's own objects


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 ``If-None-Match``: a list of tags or ``*``, compared weakly."""
    if if_none_match == etag:
        return True
    for candidate in if_none_match.split(b","):
        tag = candidate.strip()
        if tag == b"*":
            return True
        if tag.startswith(b"W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def _error_pair(status: int, body: bytes, extra: Headers) -> tuple[RawResponse, RawResponse]:
    headers: Headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *((name.encode(), value.encode()) for name, value in ERROR_PAGE_HEADERS.items()),
        *extra,
    ]
    return RawResponse(status, headers, body), RawResponse(status, headers, b"")


_NOT_FOUND, _NOT_FOUND_HEAD = _error_pair(404, NOT_FOUND_PAGE, [])
_UNAVAILABLE, _UNAVAILABLE_HEAD = _error_pair(
    503, UNAVAILABLE_PAGE, [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
)

CacheKey = tuple[object, ...]


class Hosting:
    """Decides the response for one hosting request."""

    def __init__(
        self, sites: SiteService, cache: PageCache[RenderedPage], *, price: str, purchase_base_url: str
    ) -> None:
        self.sites = sites
        self.cache = cache
        self.price = price
        self.purchase_base_url = purchase_base_url.rstrip("/")

    def respond(self, scope: Scope, asset: Asset) -> RawResponse:
        scope = cast("HTTPScope", scope)
        slug: str = scope["path_params"]["slug"]
        head = scope["method"] == "HEAD"
        if not is_valid_slug(slug):  # also refuses reserved words, without asking the database
            return _NOT_FOUND_HEAD if head else _NOT_FOUND
        return self.serve(scope, asset, self.sites.resolve(slug))

    def serve(
        self, scope: HTTPScope, asset: Asset, resolution: Resolution, *, prefix: str | None = None
    ) -> RawResponse:
        """The response for a resolved site; ``prefix`` is where its assets are linked
        from (default ``/{slug}/``; ``/`` on a custom domain, see ``domain_hosting``)."""
        head = scope["method"] == "HEAD"
        mode, site = resolution.mode, resolution.site
        if mode is ServeMode.NOT_FOUND or site is None:
            return _NOT_FOUND_HEAD if head else _NOT_FOUND
        if mode is ServeMode.UNAVAILABLE:
            return _UNAVAILABLE_HEAD if head else _UNAVAILABLE

        prefix = prefix or f"/{site.slug}/"
        key: CacheKey = (
            site.id,
            site.current_version,
            mode,
            asset,
            site.business_name,
            prefix if asset is Asset.PAGE else None,
        )
        page = self.cache.get(key)
        if page is None:
            page = self._render(site, mode, asset, prefix)
            self.cache.put(key, page)

        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if etag_matches(value, page.etag):
                    return page.not_modified
                break
        return page.ok_head if head else page.ok

    def _render(self, site: SiteHead, mode: ServeMode, asset: Asset, prefix: str) -> RenderedPage:
        content = self.sites.version(site.id, site.current_version).content
        banner = mode is ServeMode.WITH_BANNER
        if asset is Asset.CSS:
            body = content.css.encode()
        elif asset is Asset.JS:
            body = content.js.encode()
        else:
            body = render_page(
                content.html,
                prefix=prefix,
                has_css=bool(content.css.strip()),
                has_js=bool(content.js.strip()),
                banner=banner_html(
                    business_name=site.business_name,
                    price=self.price,
                    purchase_url=f"{self.purchase_base_url}/purchase/{site.slug}",
                )
                if banner
                else None,
            )
        return RenderedPage(body, asset.value, noindex=banner)


class HostingRoute(HTTPRouteHandler):
    """``GET``/``HEAD`` of one asset kind, answered from the request's scope alone.

    The handler function takes no arguments and only names the asset: Litestar then skips
    its per-request signature parsing (~5 µs for a handler taking ``scope``, measured), and
    ``to_response`` -- Litestar's hook turning a handler's result into the ASGI response,
    which receives the request -- asks ``Hosting``. Middleware, the host split and the
    exception handlers apply as to any route.
    """

    __slots__ = ("_hosting", "_offload")

    def __init__(self, path: str, asset: Asset, hosting: Hosting, *, offload: bool) -> None:
        super().__init__(
            path,
            http_method=[HttpMethod.GET, HttpMethod.HEAD],
            sync_to_thread=False,
            include_in_schema=False,
            opt={AREA: SITES},
            name=f"hosting-{asset.name.lower()}",
        )
        self._hosting = hosting
        self._offload = offload

        def name_the_asset() -> Asset:
            return asset

        self(name_the_asset)

    async def to_response(self, app: Litestar, data: Any, request: Request[Any, Any, Any]) -> ASGIApp:
        if self._offload:
            return await anyio.to_thread.run_sync(self._hosting.respond, request.scope, data)
        return self._hosting.respond(request.scope, data)


def hosting_routes(hosting: Hosting, *, offload: bool) -> Sequence[HTTPRouteHandler]:
    """The three hosting routes; ``offload`` answers them in the thread pool (see module doc)."""
    return [
        HostingRoute("/{slug:str}", Asset.PAGE, hosting, offload=offload),
        HostingRoute("/{slug:str}/styles.css", Asset.CSS, hosting, offload=offload),
        HostingRoute("/{slug:str}/app.js", Asset.JS, hosting, offload=offload),
    ]
