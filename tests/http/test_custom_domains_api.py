"""``/api/v1/customer/sites/{slug}/domain``: attach, replace, verify and remove a custom domain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from domains_support import SITES_DOMAIN, DomainShop, open_domain_shop
from payments_support import problem
from subscriptions_support import API, bearer

from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.sites import Actor

ROSA, ANA = "rosa@example.com", "ana@example.com"
URL = f"{API}/sunrise-bakery/domain"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[DomainShop]:
    with open_domain_shop(
        tmp_path / "data", public_url="https://app.webmagic.test", sites_domain=SITES_DOMAIN
    ) as running:
        yield running


@pytest.fixture
def rosa(shop: DomainShop) -> str:
    return shop.owner(ROSA)


def test_put_attaches_a_pending_domain_with_the_records_to_create(shop: DomainShop, rosa: str) -> None:
    response = shop.put_domain(rosa, "WWW.Sunrise-Bakery.example.")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["domain"] == "www.sunrise-bakery.example"
    assert body["status"] == "pending"
    txt, cname = body["dns_records"]
    assert txt["type"] == "TXT"
    assert txt["name"] == "_webmagic-challenge.www.sunrise-bakery.example"
    assert len(txt["value"]) >= 22  # >= 128 bits of randomness, URL-safe
    assert cname == {"type": "CNAME", "name": "www.sunrise-bakery.example", "value": SITES_DOMAIN}
    assert body["verified_at"] is None
    assert body["grace_ends_at"] is None
    assert body["certificate"] == {"status": "unknown", "not_after": None, "checked_at": None}
    assert shop.client.get(URL, headers=bearer(rosa)).json() == body
    detail = shop.client.get(f"{API}/sunrise-bakery", headers=bearer(rosa)).json()
    assert detail["domain"] == body


def test_international_names_are_stored_as_a_labels(shop: DomainShop, rosa: str) -> None:
    assert shop.put_domain(rosa, "Bücher.example").json()["domain"] == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("192.0.2.10", "IP addresses"),
        ("[2001:db8::1]", "IP addresses"),
        ("localhost", "two labels"),
        ("https://www.example.com/", "not a URL"),
        ("www.example.com:8080", "port"),
        ("exa mple.com", "spaces"),
        ("-bad-.example", "not a valid domain name"),
        ("a" * 64 + ".example", "not a valid domain name"),
        ("app.webmagic.test", "WebMagic's own"),
        (SITES_DOMAIN, "WebMagic's own"),
        ("shop." + SITES_DOMAIN, "WebMagic's own"),
    ],
)
def test_unusable_names_are_400_naming_the_reason(
    shop: DomainShop, rosa: str, name: str, reason: str
) -> None:
    response = shop.put_domain(rosa, name)

    body = problem(response, 400)
    assert reason in body["detail"]
    assert body["errors"][0]["field"] == "domain"
    assert shop.client.get(URL, headers=bearer(rosa)).status_code == 404


def test_a_body_that_is_not_a_domain_object_is_400(shop: DomainShop, rosa: str) -> None:
    assert shop.put_domain(rosa, 12).status_code == 400
    extra = shop.client.put(URL, json={"domain": "a.example", "x": 1}, headers=bearer(rosa))
    assert "x" in problem(extra, 400)["detail"]


def test_a_name_held_by_another_site_is_409(shop: DomainShop, rosa: str) -> None:
    ana = shop.owner(ANA, "ana-tacos", "Ana Tacos")
    assert shop.put_domain(rosa, "shop.example").status_code == 201

    response = shop.put_domain(ana, "Shop.Example", slug="ana-tacos")

    assert "another site" in problem(response, 409)["detail"]


def test_a_new_put_replaces_the_domain_and_the_same_name_keeps_it(shop: DomainShop, rosa: str) -> None:
    first = shop.put_domain(rosa, "one.example").json()
    assert shop.put_domain(rosa, "one.example").json() == first  # same token, same status

    second = shop.put_domain(rosa, "two.example").json()

    assert second["domain"] == "two.example"
    assert second["dns_records"][0]["value"] != first["dns_records"][0]["value"]
    # The old name is free again for anyone.
    ana = shop.owner(ANA, "ana-tacos", "Ana Tacos")
    assert shop.put_domain(ana, "one.example", slug="ana-tacos").status_code == 201


def test_verify_finds_the_token(shop: DomainShop, rosa: str) -> None:
    shop.put_domain(rosa, "shop.example")
    body = shop.prove(rosa)

    assert body["status"] == "verified"
    assert body["verified_at"] == body["last_checked_at"] == shop.clock.now().isoformat()
    assert "holds the verification value" in body["detail"]


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (lambda dns, name: None, "No DNS record named _webmagic-challenge.shop.example exists"),
        (lambda dns, name: dns.names.add(name), "has no TXT record"),
        (lambda dns, name: dns.set_txt(name, "wrong-value"), "'wrong-value'"),
        (lambda dns, name: dns.timeout.add(name), "did not answer in time"),
        (lambda dns, name: dns.servfail.add(name), "SERVFAIL"),
    ],
)
def test_verify_without_the_token_stays_pending_and_says_what_was_found(
    shop: DomainShop, rosa: str, setup: object, says: str
) -> None:
    shop.put_domain(rosa, "shop.example")
    setup(shop.dns, "_webmagic-challenge.shop.example")  # type: ignore[operator]

    response = shop.verify(rosa)

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert says in response.json()["detail"]


def test_another_customers_site_is_404(shop: DomainShop, rosa: str) -> None:
    ana = shop.owner(ANA, "ana-tacos", "Ana Tacos")
    assert shop.put_domain(ana, "x.example").status_code == 404
    assert shop.client.get(URL, headers=bearer(ana)).status_code == 404
    assert shop.verify(ana).status_code == 404
    assert shop.client.delete(URL, headers=bearer(ana)).status_code == 404


def test_without_a_token_is_401(shop: DomainShop) -> None:
    assert shop.client.put(URL, json={"domain": "x.example"}).status_code == 401


def test_a_suspended_site_cannot_take_a_domain(shop: DomainShop, rosa: str) -> None:
    with shop.container.database.unit_of_work() as uow:
        site = uow.sites.get_by_slug("sunrise-bakery", for_update=True)
        assert site is not None
        site.apply(Trigger.HOSTING_EXPIRED, cause="test", actor=Actor.SYSTEM, at=shop.clock.now())
        uow.sites.save(site)
        uow.commit()
    assert shop.site().status is SiteStatus.SUSPENDED

    response = shop.put_domain(rosa, "shop.example")

    assert "suspended" in problem(response, 409)["detail"]


def test_delete_removes_it(shop: DomainShop, rosa: str) -> None:
    shop.put_domain(rosa, "shop.example")

    assert shop.client.delete(URL, headers=bearer(rosa)).status_code == 204
    assert shop.client.get(URL, headers=bearer(rosa)).status_code == 404
    assert shop.client.delete(URL, headers=bearer(rosa)).status_code == 404
    assert shop.client.get(f"{API}/sunrise-bakery", headers=bearer(rosa)).json()["domain"] is None


def test_a_removed_name_added_again_gets_a_new_token(shop: DomainShop, rosa: str) -> None:
    first = shop.put_domain(rosa, "shop.example").json()["dns_records"][0]["value"]
    shop.client.delete(URL, headers=bearer(rosa))
    again = shop.put_domain(rosa, "shop.example").json()
    assert again["status"] == "pending"
    assert again["dns_records"][0]["value"] != first
