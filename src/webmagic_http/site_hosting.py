"""Hosting: ``GET /{slug}`` (the page, ``index.html``) and ``/{slug}/{path}`` (any file).

What is served was computed when the version was written: references rewritten for
``/{slug}`` (``webmagic_adapters.site_rewriter``), and the page in each variant its
status may serve -- with the preview banner, clean -- stored once with its digest
(``webmagic_core.pages``). Per request, nothing is parsed or rendered. Every response has
a strong ETag (the SHA-256 of its bytes); HTML is ``no-cache``, and a file asked for with
the fingerprint the rewriter put in its URL (``?v=``) is cacheable for a year.

What a site's status means for hosting comes from the core (``SiteService.resolve``
asks the lifecycle policy); this module only turns the answer into bytes and headers.

Hot path of ``GET /{slug}``, per request: one head lookup through the core's
``SiteDirectory`` (so a new version or status shows on the next request, also across
processes sharing one database; ~3 µs on SQLite), which carries the digest of the stored
page the status serves: a conditional request is answered from it alone (304, no body
read). Otherwise one page-cache lookup by that digest; on a miss, the body from the
local disk copy (``bodies``: one file read and a digest check, ~20 µs, served by the
OS page cache rather than from this process's memory), and only when that has none, one
primary-key read of the ready bytes (``SiteService.page_body``, on the directory's own
connections), then written to disk for the next miss. The page cache is a hot-set
optimisation: with the whole set missing it, a request costs a file read, never a
render. Responses are pre-encoded and sent
straight to ASGI: the routes are ``HostingRoute`` handlers, which skip Litestar's
per-request argument parsing and ``Response`` building (benchmarks/hosting.py measures
the whole server against a bare Litestar route).

Files under ``/{slug}/...``, a custom domain's root, and a page with no stored rendering
(a banner rendered under other settings, e.g. before a price change was re-rendered) go
the general way: the version's file list and the body through a unit of work, the banner
added here, cached by version and status.

Where the head lookup runs depends on the database (``offload`` in ``hosting_routes``):
on SQLite it is a local read that never waits on a network, and handing it to a worker
thread would add ~150 µs per request (measured), so it runs inline on the event loop; on
a network database (PostgreSQL) a round trip may take milliseconds and would stall every
other request, so it runs in a worker thread -- unless the answer needs no read at all
(the head in the directory's memory, and a 304, a cached page, a page on local disk or
an error page), which is answered on the event loop (``respond_from_memory``).

``GET``/``HEAD /{slug}`` on our own host is answered in front of Litestar by
``HostingFastPath`` (same answers, without the framework's per-request machinery).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Protocol, cast, overload

import anyio.to_thread
from litestar.types import HTTPScope, Scope

from webmagic_core.lifecycle import ServeMode
from webmagic_core.services.sites import Resolution, SiteService
from webmagic_core.site_files import INDEX
from webmagic_core.slugs import is_valid_slug
from webmagic_http.hosting_counter import count_hosting
from webmagic_http.hosts import request_host
from webmagic_http.page_cache import PageCache
from webmagic_http.render import NOT_FOUND_PAGE, UNAVAILABLE_PAGE
from webmagic_http.site_responses import (
    CACHE_CONTROL,
    PAGE_TYPE,
    REFERRER_POLICY,
    RETRY_AFTER_SECONDS,
    SANDBOX,
    FileListing,
    Headers,
    RawResponse,
    RenderedPage,
    error_pair,
    etag_matches,
    query_fingerprint,
    request_path,
    validator_headers,
)

if TYPE_CHECKING:
    from webmagic_core.ports import PreviewBanner, SiteHead


class Kind(enum.Enum):
    """What a hosting route serves: the site's page (``/{slug}``) or one of its files."""

    PAGE = "page"
    FILE = "file"


CacheKey = tuple[object, ...]


class BodyFiles(Protocol):
    """Stored page bodies by digest, kept locally (``webmagic_adapters.page_bodies``)."""

    def read(self, digest: str) -> bytes | None: ...

    def write(self, digest: str, body: bytes) -> None: ...


class Hosting:
    """Decides the response for one hosting request.

    ``sandboxed``: sites share the portal's origin, so every hosting response carries the
    CSP sandbox (see ``SANDBOX``). ``bodies``: the local disk copy of stored pages by
    digest (``webmagic_adapters.page_bodies``), read before the database on a miss."""

    def __init__(
        self,
        sites: SiteService,
        cache: PageCache[Any],
        *,
        banner: PreviewBanner,
        sandboxed: bool = False,
        bodies: BodyFiles | None = None,
    ) -> None:
        self.sites = sites
        self.cache = cache
        self.bodies = bodies
        self.banner = banner
        self.sandboxed = sandboxed
        security: Headers = [(b"referrer-policy", REFERRER_POLICY)]
        if sandboxed:
            security.append((b"content-security-policy", SANDBOX))
        self._page_headers = security
        self._file_headers = [*security, (b"access-control-allow-origin", b"*")] if sandboxed else security
        # The 404 and 503 pages (no script, no site content) stay byte for byte those of
        # any other unknown address (webmagic_http.problems).
        self._not_found, self._not_found_head = error_pair(404, NOT_FOUND_PAGE, [])
        self._unavailable, self._unavailable_head = error_pair(
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

    def respond_from_memory(self, scope: Scope, kind: Kind) -> RawResponse | None:
        """``respond`` when it needs no database read (head in the directory's memory,
        a 304, a page in the page cache or on local disk, an error page); None otherwise."""
        if kind is not Kind.PAGE:
            return None
        scope = cast("HTTPScope", scope)
        return self.page(scope, scope["path_params"]["slug"], memory_only=True)

    def page(self, scope: HTTPScope, slug: str, *, memory_only: bool = False) -> RawResponse | None:
        """The response to ``GET``/``HEAD /{slug}``; ``memory_only``: None rather than
        read the database."""
        if not is_valid_slug(slug):  # also refuses reserved words, without asking the database
            return self._not_found_head if scope["method"] == "HEAD" else self._not_found
        if not memory_only:
            return self.serve(scope, INDEX, self.sites.resolve(slug))
        resolution = self.sites.resolve_cached(slug)
        if resolution is None:
            return None
        return self.serve(scope, INDEX, resolution, memory_only=True)

    @overload
    def serve(
        self, scope: HTTPScope, path: str | None, resolution: Resolution, *, root: bool = False
    ) -> RawResponse: ...

    @overload
    def serve(
        self, scope: HTTPScope, path: str | None, resolution: Resolution, *, memory_only: bool
    ) -> RawResponse | None: ...

    def serve(
        self,
        scope: HTTPScope,
        path: str | None,
        resolution: Resolution,
        *,
        root: bool = False,
        memory_only: bool = False,
    ) -> RawResponse | None:
        """The response for the file at ``path`` (None: one that cannot exist) of a resolved
        site; ``root``: as served at a custom domain's root rather than under ``/{slug}``
        (see ``domain_hosting``); ``memory_only``: None rather than read the database."""
        head = scope["method"] == "HEAD"
        mode, site = resolution.mode, resolution.site
        if mode is ServeMode.NOT_FOUND or site is None:
            return self._not_found_head if head else self._not_found
        if mode is ServeMode.UNAVAILABLE:
            return self._unavailable_head if head else self._unavailable
        if path == INDEX and not root:
            digest = site.page_digest
            # A banner rendered under other settings (another price) is not served.
            if digest is not None and (not site.page_key or site.page_key == self.banner.key):
                stored = self._stored_page(scope, digest, mode is ServeMode.WITH_BANNER, head, memory_only)
                if stored is not None or memory_only:
                    return stored

        key: CacheKey = (site.id, site.current_version, mode, path, site.business_name, root)
        page = self.cache.get(key)
        if page is None:
            if memory_only:
                return None
            page = self._render(site, mode, path, root)
            if page is None:
                return self._not_found_head if head else self._not_found
            self.cache.put(key, page)

        immutable = (
            page.fingerprint is not None and query_fingerprint(scope["query_string"]) == page.fingerprint
        )
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if etag_matches(value, page.etag):
                    return page.immutable_not_modified if immutable else page.not_modified
                break
        if immutable:
            return page.immutable_head if head else page.immutable
        return page.ok_head if head else page.ok

    def _stored_page(
        self, scope: HTTPScope, digest: str, banner: bool, head: bool, memory_only: bool = False
    ) -> RawResponse | None:
        """The page rendered when its version was written, by the digest its head names
        (None when those bytes are not stored, or with ``memory_only`` neither cached
        nor on local disk)."""
        etag = b'"' + digest.encode() + b'"'
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if etag_matches(value, etag):  # no body needed, nor the cache
                    return RawResponse(
                        304, validator_headers(etag, CACHE_CONTROL, banner, self._page_headers), b""
                    )
                break
        key: CacheKey = ("page", digest, banner)
        page = self.cache.get(key)
        if page is None:
            bodies = self.bodies
            # A local file read (the OS page cache, a few µs): allowed with memory_only.
            body = bodies.read(digest) if bodies is not None else None
            if body is None:
                if memory_only:
                    return None
                body = self.sites.page_body(digest)
                if body is None:
                    return None
                if bodies is not None:
                    bodies.write(digest, body)
            page = RenderedPage(body, PAGE_TYPE, noindex=banner, digest=digest, extra=self._page_headers)
            self.cache.put(key, page)
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
            body = self.banner.render(
                body, slug=site.slug, business_name=site.business_name, rewritten=served != file.digest
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


class HostingFastPath:
    """``GET``/``HEAD /{slug}`` answered in front of Litestar, as the ``hosting-page``
    route would answer it.

    The page route is the hot path, and Litestar's per-request machinery around it --
    the ASGI router, the exception and Prometheus middleware (which only looks at the
    route to skip it), the host split, ``Request`` objects for the ``before_request``
    guard and ``to_response`` -- cost about as much as the answer itself. Only requests
    whose answer is known to be the page route's take this path: a host of our own
    (never a custom domain; only the sites host when sites have one), a single path
    segment that is a valid slug and no other route's first segment. Everything else,
    and any request whose answer raises (the database unavailable...), goes through
    Litestar, which answers it exactly as before; so do the error pages' exception
    handling, the ``/metrics`` class of the request (hosting counts itself either way).
    """

    __slots__ = ("_hosting", "_hosts", "_offload", "_taken")

    def __init__(
        self, hosting: Hosting, *, hosts: frozenset[str], taken: frozenset[str], offload: bool
    ) -> None:
        self._hosting = hosting
        self._hosts = hosts
        self._taken = taken
        self._offload = offload

    def slug(self, scope: HTTPScope) -> str | None:
        """The slug when the request is one this path answers."""
        path = scope["path"]
        if path.find("/", 1) != -1 or scope["method"] not in ("GET", "HEAD"):
            return None
        slug = path[1:]
        if slug in self._taken or not is_valid_slug(slug) or request_host(scope) not in self._hosts:
            return None
        return slug

    async def answer(self, scope: HTTPScope, slug: str) -> RawResponse | None:
        """The response, or None: let Litestar answer."""
        hosting = self._hosting
        try:
            if self._offload:
                response = hosting.page(scope, slug, memory_only=True)
                if response is None:
                    response = await anyio.to_thread.run_sync(hosting.page, scope, slug)
            else:
                response = hosting.page(scope, slug)
        except Exception:  # Litestar asks again and turns the error into its response
            return None
        if response is not None:
            count_hosting(response.status)
        return response
