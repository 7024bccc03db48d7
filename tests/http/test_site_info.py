"""``GET /api/v1/sites/{slug}``: public information to sell a site."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

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


def test_a_preview_is_purchasable(container: Container, client: Client, create_site: CreateSite) -> None:
    create_site(container, "sunrise-bakery", name="Sunrise Bakery")

    response = client.get("/api/v1/sites/sunrise-bakery")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "slug": "sunrise-bakery",
        "business_name": "Sunrise Bakery",
        "status": "preview",
        "purchasable": True,
        "price": {"amount_in_cents": 49500, "currency": "USD"},
        "held_until": None,
    }


def test_a_held_preview_is_not_purchasable_until_the_hold_ends(
    container: Container, client: Client, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery", name="Sunrise Bakery")
    started = container.purchases.start("sunrise-bakery", "ana@example.com", client="203.0.113.7")

    body = client.get("/api/v1/sites/sunrise-bakery").json()

    assert (body["status"], body["purchasable"]) == ("preview", False)
    assert dt.datetime.fromisoformat(body["held_until"]) == started.expires_at
    container.purchases.cancel(started.purchase_id)
    body = client.get("/api/v1/sites/sunrise-bakery").json()
    assert (body["purchasable"], body["held_until"]) == (True, None)


@pytest.mark.parametrize(
    "status", [SiteStatus.OWNED, SiteStatus.ACTIVE, SiteStatus.PAST_DUE, SiteStatus.SUSPENDED]
)
def test_a_sold_site_is_not_purchasable(
    container: Container, client: Client, status: SiteStatus, create_site: CreateSite
) -> None:
    create_site(container, "sunrise-bakery", status)
    body = client.get("/api/v1/sites/sunrise-bakery").json()
    assert (body["status"], body["purchasable"]) == (status.value, False)


def test_the_price_comes_from_the_settings(make_app: MakeApp, create_site: CreateSite) -> None:
    app, container = make_app(site_price_cents=19900, currency="EUR")
    create_site(container, "sunrise-bakery")
    with TestClient(app) as client:
        body = client.get("/api/v1/sites/sunrise-bakery").json()
    assert body["price"] == {"amount_in_cents": 19900, "currency": "EUR"}


@pytest.mark.parametrize("slug", ["no-such-site", "old-bakery", "portal", "ab", "Bad_Slug"])
def test_unknown_archived_and_invalid_slugs_are_404_problems(
    container: Container, client: Client, slug: str, create_site: CreateSite
) -> None:
    create_site(container, "old-bakery", SiteStatus.ARCHIVED)
    response = client.get(f"/api/v1/sites/{slug}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
