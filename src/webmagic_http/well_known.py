"""Files browsers and crawlers ask every host for: ``/robots.txt`` and the icons.

``robots.txt`` keeps crawlers out of the application's own pages (API, portal, purchase
and sandbox pages, the schema). It does not list preview sites: a Disallow line per preview
would publish the agency's whole prospect list, and a crawler that may not fetch a page
never sees its ``noindex``, which is what keeps previews out of search results: every
preview page carries ``<meta name="robots" content="noindex">`` (also when a front server
serves it from the published folder), and the app adds ``X-Robots-Tag: noindex`` to every
preview response it answers itself. Owned sites are open to crawlers.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

from webmagic_http.hosts import ANY_HOST, AREA

STATIC = Path(__file__).parent / "static"
ONE_DAY = "public, max-age=86400"

ROBOTS = (
    "# WebMagic: the application's own pages are not for search engines.\n"
    "# Preview sites say noindex in their pages (and X-Robots-Tag when the app answers).\n"
    "User-agent: *\n"
    "Disallow: /api/\n"
    "Disallow: /portal\n"
    "Disallow: /purchase/\n"
    "Disallow: /sandbox/\n"
    "Disallow: /schema\n"
    "Disallow: /internal/\n"
)

ICONS = {
    "/favicon.ico": ("favicon.ico", "image/x-icon"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/apple-touch-icon.png": ("apple-touch-icon.png", "image/png"),
}


def well_known_routes() -> list[HTTPRouteHandler]:
    @get("/robots.txt", opt={AREA: ANY_HOST}, include_in_schema=False, sync_to_thread=False)
    def robots() -> Response[str]:
        return Response(ROBOTS, media_type="text/plain", headers={"cache-control": ONE_DAY})

    return [robots, *(_icon(path, name, media_type) for path, (name, media_type) in ICONS.items())]


def _icon(path: str, name: str, media_type: str) -> HTTPRouteHandler:
    body = (STATIC / name).read_bytes()  # a few KB, read once when the app is built

    @get(path, opt={AREA: ANY_HOST}, include_in_schema=False, sync_to_thread=False, name=name)
    def icon() -> Response[bytes]:
        return Response(body, media_type=media_type, headers={"cache-control": ONE_DAY})

    return icon
