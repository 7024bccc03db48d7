"""``/api/v1/customer/sites``: a signed-in customer's own sites, their detail and versions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from payments_support import Shop, open_shop, problem
from subscriptions_support import API, bearer, own_site, parse_time, subscribe

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.sites import SiteContent

ROSA, ANA = "rosa@example.com", "ana@example.com"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data") as running:
        yield running


@pytest.fixture
def rosa(shop: Shop) -> str:
    """Rosa's access token; she owns sunrise-bakery and casa-rosa."""
    token = shop.signed_in(ROSA)
    own_site(shop, token, "sunrise-bakery", "Sunrise Bakery", email=ROSA)
    own_site(shop, token, "casa-rosa", "Casa Rosa", email=ROSA)
    return token


@pytest.fixture
def ana(shop: Shop) -> str:
    """Ana's access token; she owns ana-tacos."""
    token = shop.signed_in(ANA)
    own_site(shop, token, "ana-tacos", "Ana Tacos", email=ANA)
    return token


def test_the_list_holds_the_customers_own_sites_only(shop: Shop, rosa: str, ana: str) -> None:
    shop.preview("still-a-preview", "Still A Preview")

    response = shop.client.get(API, headers=bearer(rosa))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == [
        {
            "slug": "casa-rosa",
            "business_name": "Casa Rosa",
            "status": "owned",
            "url": "http://127.0.0.1:8000/casa-rosa",
            "current_version": 1,
        },
        {
            "slug": "sunrise-bakery",
            "business_name": "Sunrise Bakery",
            "status": "owned",
            "url": "http://127.0.0.1:8000/sunrise-bakery",
            "current_version": 1,
        },
    ]
    assert [site["slug"] for site in shop.client.get(API, headers=bearer(ana)).json()] == ["ana-tacos"]


def test_a_customer_without_sites_gets_an_empty_list(shop: Shop) -> None:
    token = shop.signed_in(ANA)
    assert shop.client.get(API, headers=bearer(token)).json() == []


def test_archived_sites_leave_the_list_and_the_detail(shop: Shop, rosa: str) -> None:
    shop.container.sites.archive("casa-rosa")

    assert [site["slug"] for site in shop.client.get(API, headers=bearer(rosa)).json()] == ["sunrise-bakery"]
    problem(shop.client.get(f"{API}/casa-rosa", headers=bearer(rosa)), 404)
    problem(shop.client.get(f"{API}/casa-rosa/versions", headers=bearer(rosa)), 404)


def test_the_detail_of_an_owned_site_without_a_subscription(shop: Shop, rosa: str) -> None:
    response = shop.client.get(f"{API}/sunrise-bakery", headers=bearer(rosa))

    assert response.status_code == 200
    body = response.json()
    purchased_at = parse_time(body.pop("purchased_at"))
    assert purchased_at == shop.clock.now()
    # Hosting is included for 30 days after the purchase (WEBMAGIC_OWNED_HOSTING_DAYS).
    assert parse_time(body.pop("included_hosting_ends_at")) == purchased_at + dt.timedelta(days=30)
    assert body == {
        "slug": "sunrise-bakery",
        "business_name": "Sunrise Bakery",
        "status": "owned",
        "url": "http://127.0.0.1:8000/sunrise-bakery",
        "current_version": 1,
        "subscription": None,
        "domain": None,
    }


def test_the_detail_shows_the_subscription_in_short(shop: Shop, rosa: str) -> None:
    started, _ = subscribe(shop, rosa)

    body = shop.client.get(f"{API}/sunrise-bakery", headers=bearer(rosa)).json()

    assert (body["status"], body["included_hosting_ends_at"]) == ("active", None)
    summary = body["subscription"]
    assert (summary["id"], summary["status"], summary["cancel_at_period_end"], summary["ends_at"]) == (
        started["subscription_id"],
        "active",
        False,
        None,
    )
    assert parse_time(summary["current_period_end"]) == shop.clock.now() + dt.timedelta(days=30)
    assert parse_time(summary["next_payment_attempt_at"]) == shop.clock.now() + dt.timedelta(days=30)


def test_an_open_checkout_is_the_subscription_shown(shop: Shop, rosa: str) -> None:
    started = shop.client.post(f"{API}/sunrise-bakery/subscription", headers=bearer(rosa)).json()
    summary = shop.client.get(f"{API}/sunrise-bakery", headers=bearer(rosa)).json()["subscription"]
    assert (summary["id"], summary["status"]) == (started["subscription_id"], "pending")


def test_versions_are_listed_newest_first(shop: Shop, rosa: str) -> None:
    shop.clock.advance(dt.timedelta(minutes=1))
    shop.container.sites.publish(
        "sunrise-bakery", SiteContent(html="<h1>Sunrise, again</h1>"), cause="edit 1"
    )
    shop.clock.advance(dt.timedelta(minutes=1))
    shop.container.sites.publish("sunrise-bakery", SiteContent(html="<h1>Sunrise, v3</h1>"), cause="edit 2")

    response = shop.client.get(f"{API}/sunrise-bakery/versions", headers=bearer(rosa))

    assert response.status_code == 200
    versions = response.json()
    assert [(v["number"], v["cause"], v["current"]) for v in versions] == [
        (3, "publish", True),
        (2, "publish", False),
        (1, "import", False),
    ]
    assert all(v["edit_id"] is None and v["restored_from"] is None for v in versions)
    times = [parse_time(v["created_at"]) for v in versions]
    assert times == sorted(times, reverse=True)
    assert shop.client.get(f"{API}/sunrise-bakery", headers=bearer(rosa)).json()["current_version"] == 3


@pytest.mark.parametrize("suffix", ["", "/versions"])
def test_another_customers_site_is_not_found_like_an_unknown_one(
    shop: Shop, rosa: str, ana: str, suffix: str
) -> None:
    theirs = problem(shop.client.get(f"{API}/ana-tacos{suffix}", headers=bearer(rosa)), 404)
    unknown = problem(shop.client.get(f"{API}/no-such-site{suffix}", headers=bearer(rosa)), 404)

    assert theirs["title"] == unknown["title"]
    assert theirs["detail"] == unknown["detail"].replace("no-such-site", "ana-tacos")


@pytest.mark.parametrize("suffix", ["", "/versions"])
def test_a_preview_is_nobodys_site(shop: Shop, rosa: str, suffix: str) -> None:
    shop.preview("still-a-preview", "Still A Preview")
    problem(shop.client.get(f"{API}/still-a-preview{suffix}", headers=bearer(rosa)), 404)


def test_a_suspended_site_is_still_the_owners(shop: Shop, rosa: str) -> None:
    shop.clock.advance(dt.timedelta(days=31))
    shop.container.sweep.run()
    assert shop.site().status is SiteStatus.SUSPENDED
    rosa = shop.login(ROSA)  # a month later: a new access token

    body = shop.client.get(f"{API}/sunrise-bakery", headers=bearer(rosa)).json()

    assert (body["status"], body["included_hosting_ends_at"]) == ("suspended", None)
    assert [
        v["number"] for v in shop.client.get(f"{API}/sunrise-bakery/versions", headers=bearer(rosa)).json()
    ] == [1]


@pytest.mark.parametrize("path", [API, f"{API}/sunrise-bakery", f"{API}/sunrise-bakery/versions"])
def test_every_endpoint_needs_a_valid_access_token(shop: Shop, rosa: str, path: str) -> None:
    missing = problem(shop.client.get(path), 401)
    assert "access token" in missing["detail"]
    problem(shop.client.get(path, headers=bearer("not-a-token")), 401)
    problem(shop.client.get(path, headers={"Authorization": "Basic cm9zYTpwdw=="}), 401)


def test_the_endpoints_are_documented(shop: Shop) -> None:
    paths = shop.client.get("/schema/openapi.json").json()["paths"]
    for path in (API, f"{API}/{{slug}}", f"{API}/{{slug}}/versions"):
        operation = paths[path]["get"]
        assert {"200", "401"} <= set(operation["responses"]), path
        assert operation["security"] == [{"BearerToken": []}]
