"""Hosting's routes: ``GET``/``HEAD /{slug}`` (the page) and ``/{slug}/{path}`` (any file),
answered by ``webmagic_http.site_hosting.Hosting`` (which says what is served and how fast;
``GET /{slug}`` on our own host is mostly answered in front of Litestar, by its
``HostingFastPath``), and the write methods refused at a site's files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from litestar import HttpMethod, Litestar, Request, route
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.types import ASGIApp

from webmagic_core.slugs import is_valid_slug
from webmagic_http.hosting_counter import SKIP_REQUEST_METRICS, count_hosting
from webmagic_http.hosts import AREA, SITES
from webmagic_http.site_hosting import Hosting, Kind
from webmagic_http.site_responses import RawResponse


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
            # Answered on the event loop when no database read is needed (PostgreSQL's
            # in-memory heads, a 304, a cached page): a thread hop costs more than the answer.
            found = self._hosting.respond_from_memory(request.scope, data)
            if found is None:
                found = await anyio.to_thread.run_sync(self._hosting.respond, request.scope, data)
            response: RawResponse = found
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
