"""``GET``/``HEAD /{slug}`` answered in front of Litestar (``HostingFastPath``) must be
byte for byte what the ``hosting-page`` route answers, and must leave alone every request
that is not that route's.

Each request is sent to two apps on one database: the app as built, and the same app
with its fast path removed (so Litestar's route answers); status, headers and body must
be equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.sites import Site
from webmagic_http.head import WebMagicApp

MakeApp = Callable[..., tuple[Litestar, Container]]
CreateSite = Callable[..., Site]

OWN_HOST = "127.0.0.1:8000"  # the default public URL's
SITES_HOST = "sites.example.test"

STATUSES = {
    "fresh-preview": SiteStatus.PREVIEW,
    "owned-bakery": SiteStatus.OWNED,
    "paused-plumber": SiteStatus.SUSPENDED,
    "gone-florist": SiteStatus.ARCHIVED,
}


def answer(client: TestClient[Litestar], method: str, path: str, headers: dict[str, str]) -> tuple[Any, ...]:
    response = client.request(method, path, headers=headers)
    return response.status_code, response.headers.multi_items(), response.content


def requests(etags: dict[str, str], host: str) -> list[tuple[str, str, dict[str, str]]]:
    asked: list[tuple[str, str, dict[str, str]]] = []
    for slug in (*STATUSES, "no-such-site"):
        for method in ("GET", "HEAD"):
            asked.append((method, f"/{slug}", {"host": host}))
            etag = etags.get(slug)
            if etag is not None:
                for validator in (etag, f"W/{etag}", '"other", ' + etag, "*", '"stale"'):
                    asked.append((method, f"/{slug}", {"host": host, "if-none-match": validator}))
    # Not the page route's: another route, a reserved word, an impossible slug, a file,
    # a write, another host.
    for path in ("/healthz", "/admin", "/Fresh-Preview", "/" + "a" * 300, "/fresh-preview/"):
        asked.append(("GET", path, {"host": host}))
    asked.append(("POST", "/fresh-preview", {"host": host}))
    asked.append(("GET", "/fresh-preview", {"host": "unknown.example.org"}))
    return asked


@pytest.mark.parametrize("sites_domain", [None, SITES_HOST])
def test_the_fast_path_answers_exactly_what_the_route_answers(
    make_app: MakeApp, create_site: CreateSite, sites_domain: str | None
) -> None:
    settings: dict[str, Any] = {"sites_domain": sites_domain} if sites_domain else {}
    fast, container = make_app(**settings)
    routed, _ = make_app(**settings)
    assert isinstance(fast, WebMagicApp)
    assert isinstance(routed, WebMagicApp)
    assert fast.fast_path is not None
    routed.fast_path = None
    for slug, status in STATUSES.items():
        create_site(container, slug, status)
    host = sites_domain or OWN_HOST

    with TestClient(fast) as fast_client, TestClient(routed) as routed_client:
        etags = {
            slug: response.headers["etag"]
            for slug in STATUSES
            if (response := routed_client.get(f"/{slug}", headers={"host": host})).status_code == 200
        }
        assert set(etags) == {"fresh-preview", "owned-bakery"}
        taken = 0
        for method, path, headers in requests(etags, host):
            scope: Any = {"path": path, "method": method, "headers": [(b"host", headers["host"].encode())]}
            taken += fast.fast_path.slug(scope) is not None
            # The first may fill the page cache, the second is answered from it, the third
            # (the page cache emptied) from the local disk copy of the body.
            for round_ in range(3):
                if round_ == 2:
                    fast.state.page_cache.clear()
                assert answer(fast_client, method, path, headers) == answer(
                    routed_client, method, path, headers
                ), (method, path, headers)
        # Every page request on our host went the fast way (the others did not).
        assert taken == 2 * (len(STATUSES) + 1) + 2 * 2 * 5


def test_a_slug_another_route_starts_with_is_never_taken(make_app: MakeApp) -> None:
    app, _ = make_app()
    assert isinstance(app, WebMagicApp)
    assert app.fast_path is not None
    for route in app.routes:
        first = route.path.split("/")[1]
        if first and not first.startswith("{"):
            scope: Any = {"path": f"/{first}", "method": "GET", "headers": [(b"host", OWN_HOST.encode())]}
            assert app.fast_path.slug(scope) is None, route.path
