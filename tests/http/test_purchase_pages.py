"""The purchase pages on the API host: ``/purchase/{slug}`` (the form the preview banner's
button opens), its POST (start the checkout, 303 to it), and the checkout's return pages
``/purchase/{slug}/thanks`` and ``/purchase/{slug}/cancelled``."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from payments_support import Shop, csrf_token, html, open_shop, path_of, query_of

from webmagic_adapters.bootstrap import Container
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.gateway import GatewayError
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.testing.payments import payment_payload

MoveSite = Callable[[Container, str, SiteStatus], None]
PAGE = "/purchase/sunrise-bakery"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data") as running:
        running.preview()
        yield running


def submit(shop: Shop, **fields: str) -> httpx.Response:
    page = html(shop.client.get(PAGE), 200)
    return shop.client.post(PAGE, data={"_csrf_token": csrf_token(page), **fields}, follow_redirects=False)


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_banner_button_opens_the_purchase_page(shop: Shop) -> None:
    preview = shop.client.get("/sunrise-bakery")
    assert 'href="http://127.0.0.1:8000/purchase/sunrise-bakery"' in preview.text

    page = html(shop.client.get(PAGE), 200)

    text = text_of(page)
    assert "Buy the website of Sunrise Bakery" in text
    assert "$495.00" in text
    assert "Hosting for 30 days" in text
    assert "$95.00 per month" in text
    for field in ('name="email" type="email"', 'name="full_name" type="text"', 'name="phone" type="tel"'):
        assert field in page
    assert f'action="{PAGE}"' in page
    assert "noindex" in shop.client.get(PAGE).headers["x-robots-tag"]


def test_the_prices_come_from_the_settings(tmp_path: Path) -> None:
    with open_shop(
        tmp_path / "data", site_price_cents=19950, subscription_price_cents=4500, owned_hosting_days=14
    ) as shop:
        shop.preview()
        text = text_of(html(shop.client.get(PAGE), 200))
    assert "$199.50" in text
    assert "$45.00 per month" in text
    assert "Hosting for 14 days" in text


def test_the_form_starts_the_checkout_and_sends_the_browser_to_it(shop: Shop) -> None:
    response = submit(shop, email="rosa@example.com", full_name="Rosa Díaz", phone="")

    assert response.status_code == 303
    [request] = shop.gateway.created
    location = response.headers["location"]
    assert location.startswith("https://pay.example.test/checkout-session/ch_")
    purchase = shop.purchase(query_of(request.success_url, "purchase"))
    assert (purchase.checkout_url, purchase.buyer_name, purchase.buyer_phone) == (location, "Rosa Díaz", None)
    assert request.item_name == "Sunrise Bakery"


def test_a_form_without_its_csrf_token_is_refused(shop: Shop) -> None:
    shop.client.get(PAGE)
    response = shop.client.post(PAGE, data={"email": "rosa@example.com"}, follow_redirects=False)
    assert "could not be accepted" in html(response, 403)
    assert shop.gateway.created == []


def test_a_missing_or_bad_address_is_shown_in_the_form(shop: Shop) -> None:
    page = html(submit(shop, email=""), 400)
    assert "Enter your email address." in page

    page = html(submit(shop, email="not an address", full_name="Rosa"), 400)
    assert 'aria-invalid="true" aria-describedby="email-error"' in page
    assert 'value="Rosa"' in page  # what was typed is kept
    assert shop.gateway.created == []


def test_a_site_someone_else_is_buying_says_when_to_try_again(shop: Shop) -> None:
    shop.started(email="ana@example.com")
    shop.clock.advance(dt.timedelta(minutes=5))

    page = html(submit(shop, email="rosa@example.com", full_name="Rosa"), 409)

    assert "Someone else is buying this site right now; try again in 10 minute(s)." in page
    assert 'value="rosa@example.com"' in page


def test_a_sold_site_says_it_has_been_sold(shop: Shop, move_site: MoveSite) -> None:
    page = html(shop.client.get(PAGE), 200)
    move_site(shop.container, "sunrise-bakery", SiteStatus.OWNED)

    response = shop.client.post(PAGE, data={"_csrf_token": csrf_token(page), "email": "rosa@example.com"})

    assert "This site has been sold" in html(response, 409)
    assert "This site has been sold" in html(shop.client.get(PAGE), 200)
    assert 'name="email"' not in shop.client.get(PAGE).text


def test_a_provider_outage_or_refusal_is_explained_in_the_form(shop: Shop) -> None:
    shop.gateway.fail_next(method="create_checkout")
    response = submit(shop, email="rosa@example.com")
    assert "cannot be reached right now, and nothing was charged" in html(response, 503)
    assert response.headers["retry-after"]

    shop.gateway.fail_next(method="create_checkout", error=GatewayError("bad keys", status=401))
    page = html(submit(shop, email="rosa@example.com"), 502)
    assert "could not start the checkout" in page
    assert "bad keys" not in page


def test_too_many_attempts_are_explained_in_the_form(shop: Shop) -> None:
    for _ in range(5):
        assert submit(shop, email="rosa@example.com").status_code == 303
    response = submit(shop, email="rosa@example.com")
    assert "Too many purchase attempts" in html(response, 429)
    assert response.headers["retry-after"]


@pytest.mark.parametrize(
    "path", ["/purchase/no-such-site", "/purchase/api", "/purchase/sunrise-bakery/thanks"]
)
def test_unknown_sites_and_purchases_are_404_pages(shop: Shop, path: str) -> None:
    assert "cannot be found" in html(shop.client.get(path), 404)


def test_the_thank_you_page_follows_the_payment(shop: Shop) -> None:
    started = shop.started()
    thanks = path_of(shop.gateway.request_for(started["checkout_id"]).success_url)

    pending = shop.client.get(thanks)
    assert "waiting for the payment service" in html(pending, 200)
    assert '<meta http-equiv="refresh" content="5">' in pending.text

    assert shop.deliver(shop.paid_payload(started["checkout_id"])).json() == {"status": "processed"}

    paid = html(shop.client.get(thanks), 200)
    assert "Your payment has arrived: the website of Sunrise Bakery is yours." in paid
    assert "rosa@example.com" in paid
    assert "http-equiv" not in paid


def test_a_declined_card_shows_on_the_thank_you_page_with_the_checkout_still_open(shop: Shop) -> None:
    started = shop.started()
    unpaid = shop.gateway.checkout(started["checkout_id"])
    failed = payment_payload(unpaid, event_type="payment_intent.failed", failure_reason="insufficient funds")
    assert shop.deliver(failed).json() == {"status": "processed"}

    page = html(shop.client.get(path_of(shop.gateway.request_for(unpaid.id).success_url)), 200)
    assert "The payment did not go through, and nothing was charged." in page
    assert "Insufficient funds." in page
    assert f'href="{started["checkout_url"]}"' in page  # another card, same checkout


@pytest.mark.parametrize("purchase", ["", "not-a-uuid", "6f1c3ad4-8a53-4d52-9a0e-0d6a0cfb0a11"])
def test_a_return_page_naming_no_purchase_of_the_site_is_404(shop: Shop, purchase: str) -> None:
    for page in ("thanks", "cancelled"):
        assert "cannot be found" in html(shop.client.get(f"{PAGE}/{page}?purchase={purchase}"), 404)


@pytest.mark.parametrize("token", [None, "", "0" * 32])
def test_a_return_page_without_its_token_shows_and_changes_nothing(shop: Shop, token: str | None) -> None:
    started = shop.started(email="ana@example.com")
    query = f"purchase={started['purchase_id']}" + (f"&token={token}" if token is not None else "")
    for page in ("thanks", "cancelled"):
        response = shop.client.get(f"{PAGE}/{page}?{query}")
        assert "cannot be found" in html(response, 404)
        assert "ana@example.com" not in response.text
    form = html(shop.client.get(PAGE), 200)
    forged = {"_csrf_token": csrf_token(form), "purchase": started["purchase_id"], "token": token or ""}
    html(shop.client.post(f"{PAGE}/cancelled", data=forged, follow_redirects=False), 404)
    assert shop.purchase(started["purchase_id"]).status is PurchaseStatus.PENDING


def test_a_return_page_of_another_sites_purchase_is_404(shop: Shop) -> None:
    shop.preview("casa-rosa", "Casa Rosa")
    started = shop.started("casa-rosa")
    cancel = path_of(shop.gateway.request_for(started["checkout_id"]).cancel_url)
    response = shop.client.get(cancel.replace("/casa-rosa/", "/sunrise-bakery/"))
    html(response, 404)
    assert shop.purchase(started["purchase_id"]).status is PurchaseStatus.PENDING


def test_opening_the_cancelled_page_changes_nothing(shop: Shop) -> None:
    started = shop.started(email="ana@example.com")
    cancel = path_of(shop.gateway.request_for(started["checkout_id"]).cancel_url)

    page = html(shop.client.get(cancel), 200)

    assert "You left the checkout, and nothing was charged." in page
    assert "Release the site" in page
    assert f'href="{started["checkout_url"]}"' in page
    assert shop.purchase(started["purchase_id"]).status is PurchaseStatus.PENDING
    assert shop.gateway.is_open(started["checkout_id"])
    assert shop.buy(body={"email": "rosa@example.com"}).status_code == 409


def test_the_cancelled_pages_form_releases_the_site_and_closes_the_checkout(shop: Shop) -> None:
    started = shop.started(email="ana@example.com")
    cancel = path_of(shop.gateway.request_for(started["checkout_id"]).cancel_url)
    page = html(shop.client.get(cancel), 200)
    fields = {
        "_csrf_token": csrf_token(page),
        "purchase": started["purchase_id"],
        "token": query_of(cancel, "token"),
    }

    response = shop.client.post(f"{PAGE}/cancelled", data=fields, follow_redirects=False)

    assert response.status_code == 303
    assert shop.purchase(started["purchase_id"]).status is PurchaseStatus.CANCELLED
    assert not shop.gateway.is_open(started["checkout_id"])
    after = html(shop.client.get(path_of(response.headers["location"])), 200)
    assert "The site is released" in after
    assert 'href="http://127.0.0.1:8000/sunrise-bakery"' in after
    # Another buyer need not wait for the hold to end.
    assert shop.buy(body={"email": "rosa@example.com"}).status_code == 201


def test_the_release_form_needs_its_csrf_token(shop: Shop) -> None:
    started = shop.started(email="ana@example.com")
    cancel = path_of(shop.gateway.request_for(started["checkout_id"]).cancel_url)
    fields = {"purchase": started["purchase_id"], "token": query_of(cancel, "token")}
    assert shop.client.post(f"{PAGE}/cancelled", data=fields, follow_redirects=False).status_code == 403
    assert shop.purchase(started["purchase_id"]).status is PurchaseStatus.PENDING


def test_the_cancelled_page_of_a_paid_purchase_changes_nothing(shop: Shop) -> None:
    started = shop.started()
    shop.deliver(shop.paid_payload(started["checkout_id"]))

    page = html(shop.client.get(path_of(shop.gateway.request_for(started["checkout_id"]).cancel_url)), 200)

    assert "This purchase is paid" in page
    assert shop.purchase(started["purchase_id"]).status is PurchaseStatus.PAID
