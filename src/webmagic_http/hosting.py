"""Hosting: ``GET /{slug}`` (the page, ``index.html``) and ``/{slug}/{path}`` (any file).

What is served was computed when the version was written (references rewritten for
``/{slug}``, see ``webmagic_adapters.site_rewriter``); per request, nothing is parsed.
Only the preview banner is added here, once per version and status (the page cache).
Every response has a strong ETag (the SHA-256 of its bytes); HTML is ``no-cache``, and a
file asked for with the fingerprint the rewriter put in its URL (``?v=``) is cacheable
for a year.

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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio.to_thread
from litestar import HttpMethod, Litestar, Request, route
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from webmagic_core.errors import ValidationError
from webmagic_core.lifecycle import ServeMode
from webmagic_core.services.sites import Resolution, SiteService
from webmagic_core.site_files import INDEX, normalize_path
from webmagic_core.slugs import is_valid_slug
from webmagic_http.hosts import AREA, SITES
from webmagic_http.metrics import SKIP_REQUEST_METRICS, count_hosting
from webmagic_http.page_cache import PageCache
from webmagic_http.problems import ERROR_PAGE_HEADERS
from webmagic_http.render import NOT_FOUND_PAGE, UNAVAILABLE_PAGE, banner_html

if TYPE_CHECKING:
    from webmagic_core.ports import SiteHead, SiteRewriter
    from webmagic_core.site_files import VersionFile

# As written by the rewriter in ``?v=`` (webmagic_adapters.site_rewriter).
FINGERPRINT_CHARS = 16

Headers = list[tuple[bytes, bytes]]

# Pages change when a version is published, so browsers must revalidate (cheap: 304).
CACHE_CONTROL = b"no-cache"
# A file asked for with its digest in the URL (``?v=``, written by the rewriter) never
# changes at that URL.
IMMUTABLE = b"public, max-age=31536000, immutable"
RETRY_AFTER_SECONDS = 3600
# When sites share the portal's origin: each page runs in an opaque origin of its own,
# so its scripts cannot read the portal's cookies, CSRF tokens or storage, nor another
# site's (no allow-same-origin). Fonts and module scripts are then cross-origin requests
# from that opaque origin, hence ``Access-Control-Allow-Origin: *`` on the files (public
# bytes, never sent with credentials).
SANDBOX = b"sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox"
REFERRER_POLICY = b"strict-origin-when-cross-origin"


class Kind(enum.Enum):
    """What a hosting route serves: the site's page (``/{slug}``) or one of its files."""

    PAGE = "page"
    FILE = "file"


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
    """One cached rendering of a file: its bytes, strong ETag (the SHA-256 of the bytes
    sent) and pre-encoded responses (the ``immutable`` ones for a URL carrying the
    fingerprint ``fingerprint``)."""

    __slots__ = (
        "body",
        "etag",
        "fingerprint",
        "immutable",
        "immutable_head",
        "immutable_not_modified",
        "not_modified",
        "ok",
        "ok_head",
        "size",
    )

    def __init__(
        self,
        body: bytes,
        content_type: bytes,
        *,
        noindex: bool,
        digest: str | None = None,
        cacheable: bool = False,
        extra: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.body = body
        digest = digest or hashlib.sha256(body).hexdigest()
        self.etag = b'"' + digest.encode() + b'"'
        self.fingerprint = digest[:FINGERPRINT_CHARS].encode() if cacheable else None
        self.ok, self.ok_head, self.not_modified = self._responses(
            CACHE_CONTROL, content_type, noindex, extra
        )
        self.immutable, self.immutable_head, self.immutable_not_modified = self._responses(
            IMMUTABLE, content_type, noindex, extra
        )
        self.size = len(body) + 512  # a rough allowance for the entry's own objects

    def _responses(
        self, cache_control: bytes, content_type: bytes, noindex: bool, extra: Sequence[tuple[bytes, bytes]]
    ) -> tuple[RawResponse, RawResponse, RawResponse]:
        common: Headers = [(b"etag", self.etag), (b"cache-control", cache_control), *extra]
        if noindex:
            common.append((b"x-robots-tag", b"noindex"))
        ok_headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(self.body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            *common,
        ]
        return (
            RawResponse(200, ok_headers, self.body),
            RawResponse(200, ok_headers, b""),
            RawResponse(304, common, b""),
        )


class FileListing:
    """A version's files by path, cached so that a miss (404) costs no database read."""

    __slots__ = ("files", "size")

    def __init__(self, files: Mapping[str, VersionFile]) -> None:
        self.files = files
        self.size = 256 + 200 * len(files)


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


def _error_pair(status: int, body: bytes, extra: list[tuple[str, str]]) -> tuple[RawResponse, RawResponse]:
    headers: Headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *((name.encode(), value.encode()) for name, value in (*ERROR_PAGE_HEADERS.items(), *extra)),
    ]
    return RawResponse(status, headers, body), RawResponse(status, headers, b"")


CacheKey = tuple[object, ...]


class Hosting:
    """Decides the response for one hosting request.

    ``sandboxed``: sites share the portal's origin, so every hosting response carries the
    CSP sandbox (see ``SANDBOX``)."""

    def __init__(
        self,
        sites: SiteService,
        cache: PageCache[Any],
        *,
        price: str,
        purchase_base_url: str,
        rewriter: SiteRewriter,
        sandboxed: bool = False,
    ) -> None:
        self.sites = sites
        self.cache = cache
        self.price = price
        self.purchase_base_url = purchase_base_url.rstrip("/")
        self.rewriter = rewriter
        self.sandboxed = sandboxed
        security: Headers = [(b"referrer-policy", REFERRER_POLICY)]
        if sandboxed:
            security.append((b"content-security-policy", SANDBOX))
        self._page_headers = security
        self._file_headers = [*security, (b"access-control-allow-origin", b"*")] if sandboxed else security
        # The 404 and 503 pages (no script, no site content) stay byte for byte those of
        # any other unknown address (webmagic_http.problems).
        self._not_found, self._not_found_head = _error_pair(404, NOT_FOUND_PAGE, [])
        self._unavailable, self._unavailable_head = _error_pair(
            503, UNAVAILABLE_PAGE, [("retry-after", str(RETRY_AFTER_SECONDS))]
        )

    def respond(self, scope: Scope, kind: Kind) -> RawResponse:
        scope = cast("HTTPScope", scope)
        params = scope["path_params"]
        slug: str = params["slug"]
        head = scope["method"] == "HEAD"
        if not is_valid_slug(slug):  # also refuses reserved words, without asking the database
            return self._not_found_head if head else self._not_found
        path = INDEX if kind is Kind.PAGE else request_path(params["path"])
        return self.serve(scope, path, self.sites.resolve(slug))

    def serve(
        self, scope: HTTPScope, path: str | None, resolution: Resolution, *, root: bool = False
    ) -> RawResponse:
        """The response for the file at ``path`` (None: one that cannot exist) of a resolved
        site; ``root``: as served at a custom domain's root rather than under ``/{slug}``
        (see ``domain_hosting``)."""
        head = scope["method"] == "HEAD"
        mode, site = resolution.mode, resolution.site
        if mode is ServeMode.NOT_FOUND or site is None:
            return self._not_found_head if head else self._not_found
        if mode is ServeMode.UNAVAILABLE:
            return self._unavailable_head if head else self._unavailable

        key: CacheKey = (site.id, site.current_version, mode, path, site.business_name, root)
        page = self.cache.get(key)
        if page is None:
            page = self._render(site, mode, path, root)
            if page is None:
                return self._not_found_head if head else self._not_found
            self.cache.put(key, page)

        immutable = (
            page.fingerprint is not None and _query_fingerprint(scope["query_string"]) == page.fingerprint
        )
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if etag_matches(value, page.etag):
                    return page.immutable_not_modified if immutable else page.not_modified
                break
        if immutable:
            return page.immutable_head if head else page.immutable
        return page.ok_head if head else page.ok

    def _listing(self, site: SiteHead) -> FileListing:
        key: CacheKey = (site.id, site.current_version, "files")
        listing = self.cache.get(key)
        if listing is None:
            version = self.sites.version(site.id, site.current_version)
            listing = FileListing({file.path: file for file in version.files})
            self.cache.put(key, listing)
        return cast("FileListing", listing)

    def _render(self, site: SiteHead, mode: ServeMode, path: str | None, root: bool) -> RenderedPage | None:
        """The file at ``path`` as served under ``/{slug}`` (or at a domain's root), or None
        when there is none."""
        file = self._listing(site).files.get(path) if path is not None else None
        if file is None:
            return None
        served = file.root_digest if root else file.slug_digest
        body = self.sites.body(served)
        banner = mode is ServeMode.WITH_BANNER
        html = file.content_type.startswith("text/html")
        if html and banner:
            body = self.rewriter.insert_banner(
                body,
                banner_html(
                    business_name=site.business_name,
                    price=self.price,
                    purchase_url=f"{self.purchase_base_url}/purchase/{site.slug}",
                ),
                rewritten=served != file.digest,
            )
            digest = None  # the bytes sent are not the stored ones
        else:
            digest = served
        return RenderedPage(
            body,
            file.content_type.encode(),
            noindex=banner,
            digest=digest,
            cacheable=not html,
            extra=self._page_headers if html else self._file_headers,
        )


def request_path(raw: str) -> str | None:
    """The version path a request names (``/{slug}/`` names the page), or None when it
    cannot name a file (``..``, a hidden file...): such a request is a 404, never an error."""
    raw = raw.lstrip("/")
    if not raw:
        return INDEX
    try:
        return normalize_path(raw)
    except ValidationError:
        return None


def _query_fingerprint(query: bytes) -> bytes | None:
    for pair in query.split(b"&"):
        if pair.startswith(b"v="):
            return pair[2:]
    return None


class HostingRoute(HTTPRouteHandler):
    """``GET``/``HEAD`` of the page or a file, answered from the request's scope alone.

    The handler function takes no arguments and only names the kind: Litestar then skips
    its per-request signature parsing (~5 µs for a handler taking ``scope``, measured), and
    ``to_response`` -- Litestar's hook turning a handler's result into the ASGI response,
    which receives the request -- asks ``Hosting``. Middleware, the host split and the
    exception handlers apply as to any route.
    """

    __slots__ = ("_hosting", "_offload")

    def __init__(self, path: str, kind: Kind, hosting: Hosting, *, offload: bool) -> None:
        super().__init__(
            path,
            http_method=[HttpMethod.GET, HttpMethod.HEAD],
            sync_to_thread=False,
            include_in_schema=False,
            opt={AREA: SITES, SKIP_REQUEST_METRICS: True},
            name=f"hosting-{kind.value}",
        )
        self._hosting = hosting
        self._offload = offload

        def name_the_kind() -> Kind:
            return kind

        self(name_the_kind)

    async def to_response(self, app: Litestar, data: Any, request: Request[Any, Any, Any]) -> ASGIApp:
        if self._offload:
            response = await anyio.to_thread.run_sync(self._hosting.respond, request.scope, data)
        else:
            response = self._hosting.respond(request.scope, data)
        count_hosting(response.status)
        return response


WRITE_METHODS = [HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE]


def _refuse_writes(slug: str) -> None:
    """Sites are read-only: 405 at a site's file; under a name that can never be a site
    (``/sandbox/...`` when payments are real, a reserved word), 404 as if unrouted. (At
    ``/{slug}`` itself Litestar answers 405 for any method but GET and HEAD, as always:
    a second handler there would cost every page view a method dispatch.)"""
    if not is_valid_slug(slug):
        raise NotFoundException()
    raise MethodNotAllowedException(headers={"Allow": "GET, HEAD"})


def hosting_routes(hosting: Hosting, *, offload: bool) -> Sequence[HTTPRouteHandler]:
    """The hosting routes; ``offload`` answers them in the thread pool (see module doc)."""
    options: dict[str, Any] = {"include_in_schema": False, "opt": {AREA: SITES}, "sync_to_thread": False}

    def file_writes(slug: FromPath[str], path: FromPath[str]) -> None:
        _refuse_writes(slug)

    return [
        HostingRoute("/{slug:str}", Kind.PAGE, hosting, offload=offload),
        HostingRoute("/{slug:str}/{path:path}", Kind.FILE, hosting, offload=offload),
        route("/{slug:str}/{path:path}", http_method=WRITE_METHODS, name="hosting-file-writes", **options)(
            file_writes
        ),
    ]
