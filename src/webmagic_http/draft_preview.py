"""A draft's preview: ``/_preview/{token}/`` and ``/_preview/{token}/{path}`` on the sites
origin.

Anyone holding the link (the owner, or whoever they forward it to) sees the draft as it
would look, with a "draft preview" bar; the live site does not change. The token is signed
and expires after seven days; a bad or expired one, or an edit with no draft to show, is
the same 404 as any unknown address. Responses are never stored by shared caches
(``private, no-store``), never indexed (``X-Robots-Tag: noindex``), and send no referrer
(the token is in the URL). References between the draft's files are rewritten for the
preview's base path when a preview is first shown (a handful of requests per draft, so
they are computed here and kept in a small cache, unlike hosting's, computed at write time).
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import anyio.to_thread
from litestar import HttpMethod, Response, route
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from webmagic_core.errors import NotFound
from webmagic_core.ports import SiteRewriter
from webmagic_core.services.edits import EditService
from webmagic_core.services.sites import SiteService
from webmagic_core.site_files import SiteFiles
from webmagic_http.hosts import AREA, SITES
from webmagic_http.site_responses import SANDBOX, request_path

PREFIX = "/_preview"
CACHED_DRAFTS = 32
HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def preview_bar(business_name: str, summary: str) -> str:
    """The bar on a draft's pages: self-contained, fixed to the top, labelled."""
    font = "font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    reset = "margin:0;padding:0;border:0;box-sizing:border-box;letter-spacing:normal;text-transform:none;"
    return (
        "\n<!-- WebMagic draft preview bar -->\n"
        '<div role="region" aria-label="Draft preview" data-webmagic-draft="" '
        f'style="{reset}position:fixed;left:0;right:0;top:0;z-index:2147483647;padding:10px 16px;'
        f'background:#7c2d12;color:#ffffff;{font}text-align:center;box-shadow:0 2px 8px rgba(0,0,0,.3)">'
        f'<p style="{reset}color:#ffffff;{font}"><strong style="{reset}font-weight:700;color:#ffffff">'
        f"Draft preview</strong> of the website for {html.escape(business_name)}: not live yet. "
        f"{html.escape(summary)}</p></div>\n"
    )


class DraftPreviews:
    def __init__(
        self, edits: EditService, sites: SiteService, rewriter: SiteRewriter, *, sandboxed: bool = True
    ) -> None:
        self.edits = edits
        self.sites = sites
        self.rewriter = rewriter
        self.sandboxed = sandboxed
        self._cache: OrderedDict[tuple[str, str], Mapping[str, tuple[bytes, str]]] = OrderedDict()

    def respond(self, token: str, raw_path: str) -> Response[bytes]:
        try:
            preview = self.edits.preview(token)
        except NotFound:
            raise NotFoundException() from None
        path = request_path(raw_path)
        key = (str(preview.edit.id), token)
        served = self._cache.get(key)
        if served is None:
            files = SiteFiles({f.path: self.sites.body(f.digest) for f in preview.files})
            rewritten = self.rewriter.rewrite(files, f"{PREFIX}/{token}")
            served = {
                f.path: (rewritten.get(f.path, files.bodies[f.path]), f.content_type) for f in preview.files
            }
            page = served.get("index.html")
            if page is not None:
                bar = preview_bar(preview.business_name, preview.edit.summary or "")
                served = {
                    **served,
                    "index.html": (
                        self.rewriter.insert_banner(page[0], bar, rewritten="index.html" in rewritten),
                        page[1],
                    ),
                }
            self._cache[key] = served
            while len(self._cache) > CACHED_DRAFTS:
                self._cache.popitem(last=False)
        found = served.get(path) if path is not None else None
        if found is None:
            raise NotFoundException()
        body, content_type = found
        headers = dict(HEADERS)
        if self.sandboxed:
            headers["Content-Security-Policy"] = SANDBOX.decode()
        return Response(body, media_type=content_type, headers=headers)


def draft_preview_routes(
    edits: EditService, sites: SiteService, rewriter: SiteRewriter, *, offload: bool, sandboxed: bool = True
) -> Sequence[HTTPRouteHandler]:
    previews = DraftPreviews(edits, sites, rewriter, sandboxed=sandboxed)
    options: dict[str, Any] = {
        "http_method": [HttpMethod.GET, HttpMethod.HEAD],
        "include_in_schema": False,
        "opt": {AREA: SITES},
    }

    async def answer(token: str, path: str) -> Response[bytes]:
        if offload:
            return await anyio.to_thread.run_sync(previews.respond, token, path)
        return previews.respond(token, path)

    @route(f"{PREFIX}/{{token:str}}", name="draft-preview-page", **options)
    async def page(token: FromPath[str]) -> Response[bytes]:
        return await answer(token, "")

    @route(f"{PREFIX}/{{token:str}}/{{path:path}}", name="draft-preview-file", **options)
    async def file(token: FromPath[str], path: FromPath[str]) -> Response[bytes]:
        return await answer(token, path)

    return [page, file]
