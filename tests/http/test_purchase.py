"""``POST /api/v1/sites/{slug}/purchase``: starting a checkout for a preview site.

The real app on SQLite with the in-memory ``FakePaymentGateway`` (see payments_support)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from payments_support import Shop, open_shop, problem

from webmagic_adapters.bootstrap import Container
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.gateway import GatewayError
from webmagic_core.payments.purchases import PurchaseStatus

MoveSite = Callable[[Container, str, SiteStatus], None]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data") as running:
        running.preview()
        yield running


def test_a_purchase_answers_the_checkout_to_send_the_buyer_to(shop: Shop) -> None:
    response = shop.buy(
        body={"email": " Rosa@Example.com ", "full_name": "Rosa Díaz", "phone": "+502 5555 1234"}
    )

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"checkout_id", "checkout_url", "purchase_id", "expires_at"}
    [request] = shop.gateway.created
    assert body["checkout_url"] == f"https://pay.example.test/checkout-session/{body['checkout_id']}"
    assert dt.datetime.fromisoformat(body["expires_at"]) == shop.clock.now() + dt.timedelta(minutes=15)

    purchase = shop.purchase(body["purchase_id"])
    assert purchase.status is PurchaseStatus.PENDING
    assert (purchase.buyer_email, purchase.buyer_name, purchase.buyer_phone) == (
        "rosa@example.com",
        "Rosa Díaz",
        "+502 5555 1234",
    )
    assert purchase.checkout_id == body["checkout_id"]
    assert request.amount == Money(49500, "USD")
    # The return URLs come from the public URL only, and lead to the purchase pages.
    token = shop.container.purchases.config.return_token(purchase.id)
    assert request.success_url == (
        f"http://127.0.0.1:8000/purchase/sunrise-bakery/thanks?purchase={purchase.id}&token={token}"
    )
    assert request.cancel_url == (
        f"http://127.0.0.1:8000/purchase/sunrise-bakery/cancelled?purchase={purchase.id}&token={token}"
    )
    assert request.metadata["purchase_id"] == str(purchase.id)


def test_the_return_urls_ignore_the_request_host(shop: Shop) -> None:
    response = shop.buy(headers={"host": "evil.example", "x-forwarded-host": "evil.example"})
    assert response.status_code == 201
    [request] = shop.gateway.created
    assert "evil" not in request.success_url + request.cancel_url


@pytest.mark.parametrize("slug", ["no-such-site", "api", "Not_A_Slug"])
def test_an_unknown_slug_is_404(shop: Shop, slug: str) -> None:
    problem(shop.buy(slug), 404)
    assert shop.gateway.created == []


def test_an_archived_site_is_404(shop: Shop, move_site: MoveSite) -> None:
    move_site(shop.container, "sunrise-bakery", SiteStatus.ARCHIVED)
    problem(shop.buy(), 404)


@pytest.mark.parametrize("status", [SiteStatus.OWNED, SiteStatus.ACTIVE, SiteStatus.SUSPENDED])
def test_a_sold_site_is_409(shop: Shop, status: SiteStatus, move_site: MoveSite) -> None:
    move_site(shop.container, "sunrise-bakery", status)
    body = problem(shop.buy(), 409)
    assert "not for sale" in body["detail"]
    assert shop.gateway.created == []


def test_a_site_another_buyer_is_checking_out_is_409_until_the_hold_ends(shop: Shop) -> None:
    first = shop.started(email="rosa@example.com")

    body = problem(shop.buy(body={"email": "ana@example.com"}), 409)
    assert "try again in 15 minute(s)" in body["detail"]

    # The same buyer (a closed tab, a double click) gets the same checkout back.
    again = shop.buy(body={"email": "rosa@example.com"})
    assert again.status_code == 201
    assert again.json()["checkout_id"] == first["checkout_id"]

    shop.clock.advance(dt.timedelta(minutes=16))
    assert shop.buy(body={"email": "ana@example.com"}).status_code == 201
    assert shop.purchase(first["purchase_id"]).status is PurchaseStatus.EXPIRED


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"", "body"),
        (b"{not json", "body"),
        (b"[]", "body"),
        (b"{}", "email"),
        (b'{"email": 5}', "email"),
        (b'{"email": "rosa@example.com", "coupon": "FREE"}', "coupon"),
        (b'{"email": "rosa@example.com", "full_name": ["Rosa"]}', "full_name"),
        (b'{"email": "not an address"}', "email"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(shop: Shop, content: bytes, field: str) -> None:
    response = shop.buy(content=content, headers={"content-type": "application/json"})
    body = problem(response, 400)
    assert field in {error.get("field") for error in body.get("errors", [])}, body
    assert shop.gateway.created == []


def test_too_many_attempts_for_one_address_are_429(shop: Shop) -> None:
    for _ in range(5):
        assert shop.buy(body={"email": "rosa@example.com"}).status_code == 201
    response = shop.buy(body={"email": "rosa@example.com"})
    problem(response, 429)
    assert int(response.headers["retry-after"]) > 0


def test_a_provider_outage_is_503_with_retry_after_and_frees_the_site(shop: Shop) -> None:
    shop.gateway.fail_next(method="create_checkout")

    response = shop.buy(body={"email": "rosa@example.com"})

    problem(response, 503)
    assert response.headers["retry-after"]
    # The purchase failed, so the site is free again, for this buyer or another.
    assert shop.buy(body={"email": "ana@example.com"}).status_code == 201


def test_a_provider_refusal_is_502_without_the_providers_words(shop: Shop) -> None:
    shop.gateway.fail_next(
        method="create_checkout",
        error=GatewayError("Recurrente refused (401): bad key pk_live_x", status=401),
    )
    body = problem(shop.buy(), 502)
    assert "pk_live_x" not in body["detail"]
    assert shop.buy(body={"email": "ana@example.com"}).status_code == 201


def test_a_signed_in_customer_buys_with_no_body(shop: Shop) -> None:
    token = shop.signed_in("ana@example.com")

    response = shop.client.post(
        "/api/v1/sites/sunrise-bakery/purchase", headers={"authorization": f"Bearer {token}"}
    )

    assert response.status_code == 201, response.text
    purchase = shop.purchase(response.json()["purchase_id"])
    assert purchase.buyer_email == "ana@example.com"
    assert purchase.customer_id is not None


def test_a_signed_in_customer_may_send_a_name_but_not_another_address(shop: Shop) -> None:
    token = shop.signed_in("ana@example.com")
    bearer = {"authorization": f"Bearer {token}"}

    wrong = shop.buy(body={"email": "someone@example.com"}, headers=bearer)
    assert "email" in {error.get("field") for error in problem(wrong, 400).get("errors", [])}

    response = shop.buy(body={"full_name": "Ana López"}, headers=bearer)
    assert response.status_code == 201, response.text
    purchase = shop.purchase(response.json()["purchase_id"])
    assert (purchase.buyer_email, purchase.buyer_name) == ("ana@example.com", "Ana López")


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer"])
def test_a_bad_access_token_is_401_not_an_anonymous_purchase(shop: Shop, header: str) -> None:
    response = shop.buy(headers={"authorization": header})
    problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert shop.gateway.created == []


def test_the_endpoint_is_documented(shop: Shop) -> None:
    document: dict[str, Any] = shop.client.get("/schema/openapi.json").json()
    operation = document["paths"]["/api/v1/sites/{slug}/purchase"]["post"]
    assert {"201", "400", "404", "409", "429", "502", "503"} <= set(operation["responses"])
    assert set(operation["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {
        "email",
        "full_name",
        "phone",
    }
