"""Serving a site by the ``Host`` of its custom domain, and ``/internal/tls/ask``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from domains_support import SITES_DOMAIN, DomainShop, open_domain_shop
from subscriptions_support import API, bearer

from webmagic_core.errors import TransientError
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.sites import Actor, SiteContent

ROSA = "rosa@example.com"
HOST = "www.sunrise.example"
ASK = "/internal/tls/ask"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[DomainShop]:
    with open_domain_shop(tmp_path / "data", sites_domain=SITES_DOMAIN) as running:
        yield running


PAGE = SiteContent(
    html='<!doctype html><html><head><title>Sunrise Bakery</title><link rel="stylesheet" href="styles.css">'
    '<script src="app.js" defer></script></head><body><h1>Sunrise Bakery</h1></body></html>',
    css="h1 { color: #123456; }",
    js="document.documentElement.dataset.ready = '1';",
)


@pytest.fixture
def rosa(shop: DomainShop) -> str:
    token = shop.owner(ROSA)
    shop.container.sites.publish("sunrise-bakery", PAGE)
    assert shop.put_domain(token, HOST).status_code == 201
    return token


def get(shop: DomainShop, path: str, host: str = HOST, **headers: str) -> object:
    return shop.client.get(path, headers={"host": host, **headers})


def move(shop: DomainShop, *triggers: Trigger) -> None:
    with shop.container.database.unit_of_work() as uow:
        site = uow.sites.get_by_slug("sunrise-bakery", for_update=True)
        assert site is not None
        for trigger in triggers:
            site.apply(trigger, cause="test", actor=Actor.SYSTEM, at=shop.clock.now())
        uow.sites.save(site)
        uow.commit()


def test_a_pending_domain_is_not_served(shop: DomainShop, rosa: str) -> None:
    assert shop.client.get("/", headers={"host": HOST}).status_code == 404
    assert shop.client.get(f"{ASK}?domain={HOST}").status_code == 404


def test_a_verified_domain_serves_the_site_at_its_root(shop: DomainShop, rosa: str) -> None:
    shop.prove(rosa)
    by_slug = shop.client.get("/sunrise-bakery", headers={"host": SITES_DOMAIN})

    page = shop.client.get("/", headers={"host": "WWW.Sunrise.Example:8443"})

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "Sunrise Bakery" in page.text
    # Files are linked from the domain's root (fingerprinted), not from /{slug}/.
    assert 'href="/styles.css?v=' in page.text
    assert 'src="/app.js?v=' in page.text
    assert "/sunrise-bakery/" not in page.text
    assert page.text.replace('"/', '"/sunrise-bakery/') == by_slug.text
    css = shop.client.get("/styles.css", headers={"host": HOST})
    js = shop.client.get("/app.js", headers={"host": HOST})
    # Any file of the version answers at the root, and nothing else does.
    assert shop.client.get("/index.html", headers={"host": HOST}).text == page.text
    assert shop.client.get("/logo.png", headers={"host": HOST}).status_code == 404
    assert css.status_code == js.status_code == 200
    assert css.text == shop.client.get("/sunrise-bakery/styles.css", headers={"host": SITES_DOMAIN}).text
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "x-robots-tag" not in page.headers


def test_etags_and_304_as_on_the_slug_route(shop: DomainShop, rosa: str) -> None:
    shop.prove(rosa)
    first = shop.client.get("/", headers={"host": HOST})
    etag = first.headers["etag"]

    again = shop.client.get("/", headers={"host": HOST, "if-none-match": etag})

    assert again.status_code == 304
    assert again.content == b""
    head = shop.client.head("/", headers={"host": HOST})
    assert head.status_code == 200
    assert head.headers["etag"] == etag


def test_a_new_version_shows_on_the_next_request(shop: DomainShop, rosa: str) -> None:
    shop.prove(rosa)
    before = shop.client.get("/", headers={"host": HOST})
    shop.container.sites.publish("sunrise-bakery", SiteContent(html="<h1>Fresh bread</h1>", css="", js=""))

    after = shop.client.get("/", headers={"host": HOST})

    assert "Fresh bread" in after.text
    assert after.headers["etag"] != before.headers["etag"]


def test_nothing_else_answers_on_a_custom_domain(shop: DomainShop, rosa: str) -> None:
    shop.prove(rosa)
    for path in ("/sunrise-bakery", "/api/v1/customer/sites", "/schema/openapi.json", "/portal", "/x.png"):
        response = shop.client.get(path, headers={"host": HOST})
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
    assert shop.client.post("/", headers={"host": HOST}).status_code == 405


def test_a_suspended_site_is_a_503_page_and_archived_is_gone(shop: DomainShop, rosa: str) -> None:
    shop.prove(rosa)
    move(shop, Trigger.HOSTING_EXPIRED)
    assert shop.site().status is SiteStatus.SUSPENDED

    suspended = shop.client.get("/", headers={"host": HOST})
    assert suspended.status_code == 503
    assert "retry-after" in suspended.headers
    assert shop.client.get(f"{ASK}?domain={HOST}").status_code == 200  # still ours: 503 over HTTPS

    move(shop, Trigger.ARCHIVED)
    assert shop.client.get("/", headers={"host": HOST}).status_code == 404
    assert shop.client.get(f"{ASK}?domain={HOST}").status_code == 404


def test_removal_stops_serving_at_once(shop: DomainShop, rosa: str) -> None:
    shop.prove(rosa)
    assert shop.client.get("/", headers={"host": HOST}).status_code == 200
    assert shop.client.get(f"{ASK}?domain={HOST}").status_code == 200

    assert shop.client.delete(f"{API}/sunrise-bakery/domain", headers=bearer(rosa)).status_code == 204

    assert shop.client.get("/", headers={"host": HOST}).status_code == 404
    assert shop.client.get(f"{ASK}?domain={HOST}").status_code == 404


def test_tls_ask_answers_only_for_served_domains(shop: DomainShop, rosa: str) -> None:
    shop.prove(rosa)
    assert shop.client.get(f"{ASK}?domain={HOST}").status_code == 200
    assert shop.client.get(f"{ASK}?domain=WWW.SUNRISE.EXAMPLE.").status_code == 200
    for other in ("other.example", SITES_DOMAIN, "sunrise-bakery", ""):
        assert shop.client.get(f"{ASK}?domain={other}").status_code == 404, other
    missing = shop.client.get(ASK)
    assert missing.status_code in (400, 404)
    assert shop.client.get("/internal/anything").status_code == 404
    assert shop.dns.asked == ["_webmagic-challenge.www.sunrise.example"]  # verify only: no DNS in ask


def test_the_api_still_answers_on_the_app_host(shop: DomainShop, rosa: str) -> None:
    shop.prove(rosa)
    assert shop.client.get(f"{API}/sunrise-bakery/domain", headers=bearer(rosa)).status_code == 200


def test_a_database_fault_is_a_503_page_for_visitors_and_leaves_the_app_alone(
    shop: DomainShop, rosa: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(host: str) -> None:
        raise TransientError("the database is unavailable or busy, try again")

    monkeypatch.setattr(shop.container.host_directory, "head_by_host", unavailable)

    page = shop.client.get("/", headers={"host": HOST})
    assert page.status_code == 503
    assert page.headers["retry-after"] == "30"
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert shop.client.get("/healthz", headers={"host": HOST}).status_code == 200
    assert shop.client.get("/readyz", headers={"host": HOST}).status_code == 200


# --- host names that are neither ours nor a served domain --------------------------------

PUBLIC = "app.webmagic.test"


@pytest.fixture
def public_shop(tmp_path: Path) -> Iterator[DomainShop]:
    """An app under a real public name (strict about host names), sites on their own domain,
    one owned site."""
    with open_domain_shop(
        tmp_path / "data", public_url=f"https://{PUBLIC}", sites_domain=SITES_DOMAIN
    ) as running:
        running.owner(ROSA)
        yield running


@pytest.mark.parametrize("path", ["/", "/sunrise-bakery", "/sunrise-bakery/styles.css", "/portal/login"])
def test_an_unknown_host_name_is_a_404_page(public_shop: DomainShop, path: str) -> None:
    assert public_shop.client.get("/sunrise-bakery", headers={"host": SITES_DOMAIN}).status_code == 200
    response = public_shop.client.get(path, headers={"host": "evil.example"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Sunrise" not in response.text


@pytest.mark.parametrize("path", ["/api/v1/sites/sunrise-bakery", "/schema/openapi.json"])
def test_an_unknown_host_name_on_the_api_is_a_404_problem(public_shop: DomainShop, path: str) -> None:
    response = public_shop.client.get(path, headers={"host": "evil.example"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "sunrise" not in response.text
    assert public_shop.client.head(path, headers={"host": "evil.example"}).content == b""


def test_our_own_names_ip_addresses_and_probes_still_answer(public_shop: DomainShop) -> None:
    api = public_shop.client.get("/api/v1/sites/sunrise-bakery", headers={"host": f"{PUBLIC}:443"})
    assert api.status_code == 200
    assert public_shop.client.get("/sunrise-bakery", headers={"host": SITES_DOMAIN}).status_code == 200
    assert public_shop.client.get("/healthz", headers={"host": "evil.example"}).status_code == 200
    by_ip = public_shop.client.get("/api/v1/sites/sunrise-bakery", headers={"host": "127.0.0.1:8000"})
    assert by_ip.status_code == 200
    ask = public_shop.client.get(f"{ASK}?domain=nothing.example", headers={"host": "127.0.0.1:8000"})
    assert ask.status_code == 404  # answered by the route (not a verified domain), not refused by host
    assert ask.json()["detail"].startswith("not a verified custom domain")


def test_a_developer_machine_takes_any_host_name(shop: DomainShop, rosa: str) -> None:
    # The default public URL is a loopback address: any name reaches the app.
    page = shop.client.get("/api/v1/sites/sunrise-bakery", headers={"host": "my-laptop.local"})
    assert page.status_code == 200


def test_every_file_of_a_folder_site_answers_at_the_domain_root(shop: DomainShop, rosa: str) -> None:
    from webmagic_core.site_files import SiteFiles

    logo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    page = b'<!doctype html><html><head><title>Sunrise</title></head><body><img src="img/logo.png"></body>'
    shop.container.sites.publish(
        "sunrise-bakery",
        SiteFiles.build({"index.html": page, "img/logo.png": logo}, shop.container.settings.file_limits),
    )
    shop.prove(rosa)

    html = shop.client.get("/", headers={"host": HOST}).text
    assert 'src="/img/logo.png?v=' in html
    image = shop.client.get("/img/logo.png", headers={"host": HOST})
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content == logo
    assert shop.client.get("/img/missing.png", headers={"host": HOST}).status_code == 404
