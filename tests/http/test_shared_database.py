"""Several app processes on one database: changes show on the next request everywhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.sites import Site, SiteContent

CreateSite = Callable[..., Site]
MoveSite = Callable[[Container, str, SiteStatus], None]
MakeApp = Callable[..., tuple[Litestar, Container]]


def _publish_through_one_serve_through_the_other(
    make_app: MakeApp, create_site: CreateSite, move_site: MoveSite, **settings: object
) -> None:
    app_a, container_a = make_app(**settings)
    app_b, container_b = make_app(**settings)
    assert container_a.database is not container_b.database
    create_site(container_a, "sunrise-bakery", SiteStatus.ACTIVE)

    with TestClient(app_a) as client_a, TestClient(app_b) as client_b:
        first = client_b.get("/sunrise-bakery")  # B renders and caches version 1
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert client_b.get("/sunrise-bakery", headers={"If-None-Match": etag}).status_code == 304

        container_a.sites.publish("sunrise-bakery", SiteContent(html="<body><h1>Spring menu</h1></body>"))

        second = client_b.get("/sunrise-bakery", headers={"If-None-Match": etag})
        assert second.status_code == 200
        assert "Spring menu" in second.text
        assert second.headers["etag"] != etag
        assert client_a.get("/sunrise-bakery").headers["etag"] == second.headers["etag"]

        move_site(container_a, "sunrise-bakery", SiteStatus.PAST_DUE)
        assert client_b.get("/sunrise-bakery").status_code == 200
        container_a.sites.archive("sunrise-bakery")
        assert client_b.get("/sunrise-bakery").status_code == 404
        assert client_b.get("/api/v1/sites/sunrise-bakery").status_code == 404


def test_two_apps_sharing_one_sqlite_file(
    make_app: MakeApp, create_site: CreateSite, move_site: MoveSite
) -> None:
    _publish_through_one_serve_through_the_other(make_app, create_site, move_site)


@pytest.mark.postgres
def test_two_apps_sharing_one_postgresql_database(
    make_app: MakeApp, create_site: CreateSite, move_site: MoveSite, postgres_url: str
) -> None:
    # On PostgreSQL the database calls run in the thread pool: this covers that path too.
    _publish_through_one_serve_through_the_other(make_app, create_site, move_site, database_url=postgres_url)


def test_suspension_through_one_app_shows_in_the_other(
    make_app: MakeApp, create_site: CreateSite, move_site: MoveSite
) -> None:
    _, container_a = make_app()
    app_b, _ = make_app()
    create_site(container_a, "sunrise-bakery", SiteStatus.OWNED)
    with TestClient(app_b) as client_b:
        assert client_b.get("/sunrise-bakery").status_code == 200
        move_site(container_a, "sunrise-bakery", SiteStatus.SUSPENDED)
        assert client_b.get("/sunrise-bakery").status_code == 503
