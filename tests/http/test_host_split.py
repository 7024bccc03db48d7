"""``WEBMAGIC_SITES_DOMAIN``: sites only on that host, the API only on the others."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.sites import Site

Client = TestClient[Litestar]
CreateSite = Callable[..., Site]
MoveSite = Callable[[Container, str, SiteStatus], None]
MakeApp = Callable[..., tuple[Litestar, Container]]
SITES_HOST = "sites.example.test"

SITE_PATHS = ["/sunrise-bakery", "/sunrise-bakery/", "/sunrise-bakery/styles.css", "/sunrise-bakery/app.js"]
API_PATHS = ["/api/v1/sites/sunrise-bakery", "/readyz", "/schema/openapi.json"]


@pytest.fixture
def split_client(make_app: MakeApp, create_site: CreateSite) -> Iterator[Client]:
    app, container = make_app(sites_domain="Sites.Example.Test.")  # normalised by the settings
    create_site(container, "sunrise-bakery")
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("host", [SITES_HOST, f"{SITES_HOST}:8443", "SITES.example.TEST", f"{SITES_HOST}."])
def test_the_sites_host_serves_sites_and_healthz_only(split_client: Client, host: str) -> None:
    for path in SITE_PATHS:
        assert split_client.get(path, headers={"Host": host}).status_code == 200, path
    assert split_client.get("/healthz", headers={"Host": host}).status_code == 200
    not_found_page = split_client.get("/no-such-site", headers={"Host": host}).content
    for path in [*API_PATHS, "/api/v1/nothing-here", "/schema"]:
        response = split_client.get(path, headers={"Host": host})
        assert response.status_code == 404, path
        # On the sites host everything missing is the one neutral page.
        assert response.content == not_found_page, path


@pytest.mark.parametrize(
    "host",
    ["api.example.test", "127.0.0.1:8000", "[::1]:8000", "example.test", "sites.example.test.evil.test"],
)
def test_other_hosts_serve_the_api_only(split_client: Client, host: str) -> None:
    for path in API_PATHS:
        assert split_client.get(path, headers={"Host": host}).status_code == 200, path
    assert split_client.get("/healthz", headers={"Host": host}).status_code == 200
    for path in SITE_PATHS:
        response = split_client.get(path, headers={"Host": host})
        assert response.status_code == 404, path
        assert b"data-webmagic-banner" not in response.content


def test_without_a_sites_domain_one_host_serves_both(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery")
    for host in ["127.0.0.1:8000", SITES_HOST]:
        for path in [*SITE_PATHS, *API_PATHS, "/healthz"]:
            assert client.get(path, headers={"Host": host}).status_code == 200, (host, path)
