"""``/api/v1/customer/sites/{slug}/subscription`` (POST, GET, DELETE) on the fake provider, and
the portal page the subscription checkout returns to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from payments_support import Shop, html, open_shop, path_of, problem
from subscriptions_support import (
    API,
    bearer,
    own_site,
    parse_time,
    start,
    subscribe,
    subscription_url,
)

from webmagic_adapters.payments.provider_model import subscription_event_payload
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.gateway import CheckoutKind, GatewayError
from webmagic_core.testing.subscriptions import ProviderSimulator

ROSA, ANA = "rosa@example.com", "ana@example.com"
MONTH = dt.timedelta(days=30)
METHODS = ["post", "get", "delete"]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data") as running:
        yield running


@pytest.fixture
def rosa(shop: Shop) -> str:
    """Rosa's access token; she owns sunrise-bakery."""
    token = shop.signed_in(ROSA)
    own_site(shop, token, email=ROSA)
    return token


def call(shop: Shop, method: str, token: str | None, slug: str = "sunrise-bakery") -> dict[str, object]:
    headers = bearer(token) if token else {}
    response = shop.client.request(method.upper(), subscription_url(slug), headers=headers)
    body: dict[str, object] = {"status_code": response.status_code, **response.json()}
    return body


# --- POST -------------------------------------------------------------------------------------


def test_starting_returns_a_monthly_checkout_that_comes_back_to_the_portal(shop: Shop, rosa: str) -> None:
    response = shop.client.post(subscription_url(), headers=bearer(rosa))

    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"checkout_id", "checkout_url", "subscription_id", "expires_at", "first_charge_at"}
    assert body["checkout_url"].endswith(body["checkout_id"])
    assert parse_time(body["expires_at"]) == shop.clock.now() + dt.timedelta(minutes=30)
    request = shop.gateway.request_for(body["checkout_id"])
    # Bought today: the 30 included days are a free trial (4 whole weeks), charged after.
    assert request.free_trial is not None
    assert parse_time(body["first_charge_at"]) == shop.clock.now() + dt.timedelta(weeks=4)
    assert request.kind is CheckoutKind.MONTHLY
    assert (request.amount.amount_in_cents, request.amount.currency) == (9500, "USD")
    for url, outcome in ((request.success_url, "done"), (request.cancel_url, "cancelled")):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
            "http://127.0.0.1:8000/portal/sites/sunrise-bakery/subscription"
        )
        assert parse_qs(parts.query) == {"checkout": [outcome], "subscription": [body["subscription_id"]]}


def test_starting_again_returns_the_open_checkout(shop: Shop, rosa: str) -> None:
    first = start(shop, rosa)
    assert start(shop, rosa) == first
    assert len(shop.gateway.created) == 2  # the purchase's checkout and this one


def test_a_body_may_be_empty_but_holds_no_fields(shop: Shop, rosa: str) -> None:
    assert shop.client.post(subscription_url(), json={}, headers=bearer(rosa)).status_code == 201
    refused = problem(
        shop.client.post(subscription_url(), json={"plan": "yearly"}, headers=bearer(rosa)), 400
    )
    assert refused["errors"] == [{"field": "plan", "message": "unknown field"}]
    problem(shop.client.post(subscription_url(), content=b"{oops", headers=bearer(rosa)), 400)


def test_a_live_subscription_cannot_be_started_twice(shop: Shop, rosa: str) -> None:
    subscribe(shop, rosa)
    conflict = problem(shop.client.post(subscription_url(), headers=bearer(rosa)), 409)
    assert "already has an active subscription" in conflict["detail"]


def test_a_provider_outage_is_a_503_and_a_refusal_a_502(shop: Shop, rosa: str) -> None:
    shop.gateway.fail_next(method="create_checkout")
    down = problem(shop.client.post(subscription_url(), headers=bearer(rosa)), 503)
    assert down["detail"]
    assert shop.client.post(subscription_url(), headers=bearer(rosa)).status_code == 201

    shop.clock.advance(dt.timedelta(minutes=31))  # the open checkout lapses
    rosa = shop.login(ROSA)
    shop.gateway.fail_next(method="create_checkout", error=GatewayError("bad keys sk_live_x", status=401))
    refused = problem(shop.client.post(subscription_url(), headers=bearer(rosa)), 502)
    assert "sk_live_x" not in refused["detail"]


# --- GET ----------------------------------------------------------------------------------------


def test_there_is_no_subscription_before_one_is_started(shop: Shop, rosa: str) -> None:
    assert (
        "no subscription" in problem(shop.client.get(subscription_url(), headers=bearer(rosa)), 404)["detail"]
    )


def test_a_paid_subscription_shows_its_period_price_and_payments(shop: Shop, rosa: str) -> None:
    started, provider_id = subscribe(shop, rosa)
    shop.clock.advance(dt.timedelta(minutes=5))
    paid_at = shop.clock.now() - dt.timedelta(minutes=5)

    response = shop.client.get(subscription_url(), headers=bearer(rosa))

    assert response.status_code == 200
    body = response.json()
    assert {
        "status",
        "current_period_end",
        "next_payment_attempt_at",
        "cancel_at_period_end",
        "ends_at",
        "price",
        "payments",
    } <= set(body)
    assert (body["id"], body["status"], body["cancel_at_period_end"], body["ends_at"]) == (
        started["subscription_id"],
        "active",
        False,
        None,
    )
    assert parse_time(body["current_period_end"]) == paid_at + MONTH
    assert parse_time(body["next_payment_attempt_at"]) == paid_at + MONTH
    assert parse_time(body["started_at"]) == paid_at
    assert body["price"] == {"amount_in_cents": 9500, "currency": "USD"}
    [payment] = body["payments"]
    assert payment["payment_id"].startswith("pa_")
    assert payment["amount"] == {"amount_in_cents": 9500, "currency": "USD"}
    assert parse_time(payment["paid_at"]) == paid_at
    assert parse_time(payment["period_end"]) == paid_at + MONTH
    assert shop.site().status is SiteStatus.ACTIVE
    assert provider_id.startswith("su_")


def test_renewals_and_a_failed_payment_show_up(shop: Shop, rosa: str) -> None:
    _, provider_id = subscribe(shop, rosa)
    provider = ProviderSimulator(shop.gateway, shop.clock)
    for event in provider.renew(provider_id):
        shop.deliver(event)
    for event in provider.fail_renewal(provider_id):
        shop.deliver(event)
    rosa = shop.login(ROSA)  # two months later

    body = shop.client.get(subscription_url(), headers=bearer(rosa)).json()

    assert body["status"] == "past_due"
    assert parse_time(body["next_payment_attempt_at"]) == shop.clock.now() + dt.timedelta(days=3)
    paid = [parse_time(p["paid_at"]) for p in body["payments"]]
    assert len(paid) == 2
    assert paid == sorted(paid, reverse=True)  # newest first
    assert shop.site().status is SiteStatus.PAST_DUE
    assert shop.client.get("/sunrise-bakery").status_code == 200  # still served


# --- DELETE -------------------------------------------------------------------------------------


def test_cancelling_keeps_the_site_online_until_the_period_ends(shop: Shop, rosa: str) -> None:
    subscribe(shop, rosa)
    period_end = shop.clock.now() + MONTH

    response = shop.client.delete(subscription_url(), headers=bearer(rosa))

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["cancel_at_period_end"], body["next_payment_attempt_at"]) == (
        "cancelled",
        True,
        None,
    )
    assert parse_time(body["ends_at"]) == period_end
    assert parse_time(body["current_period_end"]) == period_end
    assert len(shop.gateway.cancelled) == 1
    assert shop.site().status is SiteStatus.ACTIVE

    again = shop.client.delete(subscription_url(), headers=bearer(rosa))
    assert (again.status_code, again.json()) == (200, body)
    assert len(shop.gateway.cancelled) == 1

    shop.clock.current = period_end + dt.timedelta(minutes=1)
    shop.container.sweep.run()
    assert shop.site().status is SiteStatus.SUSPENDED
    assert shop.client.get("/sunrise-bakery").status_code == 503


def test_there_is_nothing_to_cancel_without_a_subscription(shop: Shop, rosa: str) -> None:
    detail = problem(shop.client.delete(subscription_url(), headers=bearer(rosa)), 409)["detail"]
    assert detail == "this site has no subscription to cancel"


# --- who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_another_customers_site_is_a_404_like_an_unknown_slug(shop: Shop, rosa: str, method: str) -> None:
    ana = shop.signed_in(ANA)
    own_site(shop, ana, "ana-tacos", "Ana Tacos", email=ANA)
    subscribe(shop, ana, "ana-tacos")

    theirs = call(shop, method, rosa, "ana-tacos")
    unknown = call(shop, method, rosa, "no-such-site")

    assert theirs["status_code"] == unknown["status_code"] == 404
    assert theirs["detail"] == str(unknown["detail"]).replace("no-such-site", "ana-tacos")
    assert len(shop.gateway.cancelled) == 0
    assert shop.site("ana-tacos").status is SiteStatus.ACTIVE


@pytest.mark.parametrize("method", METHODS)
def test_a_site_nobody_owns_is_a_404_like_an_unknown_one(shop: Shop, rosa: str, method: str) -> None:
    shop.preview("still-a-preview", "Still A Preview")
    response = shop.client.request(method.upper(), subscription_url("still-a-preview"), headers=bearer(rosa))
    unknown = shop.client.request(method.upper(), subscription_url("no-such-site"), headers=bearer(rosa))
    body = problem(response, 404)
    assert body["detail"] == str(problem(unknown, 404)["detail"]).replace("no-such-site", "still-a-preview")
    assert shop.gateway.created == [] or all(r.kind.value != "monthly" for r in shop.gateway.created)


@pytest.mark.parametrize("method", METHODS)
def test_without_a_valid_access_token_it_is_a_401(shop: Shop, rosa: str, method: str) -> None:
    for headers in ({}, bearer("nonsense"), bearer(rosa + "x")):
        response = shop.client.request(method.upper(), subscription_url(), headers=headers)
        problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert len(shop.gateway.created) == 1  # only the purchase's


def test_the_endpoints_are_documented(shop: Shop) -> None:
    operations = shop.client.get("/schema/openapi.json").json()["paths"][f"{API}/{{slug}}/subscription"]
    assert set(operations) == {"post", "get", "delete"}
    assert "201" in operations["post"]["responses"]
    assert {"200", "401", "404", "409"} <= set(operations["delete"]["responses"])


# --- the page the checkout returns to -----------------------------------------------------------


def page_url(outcome: str, subscription_id: str, slug: str = "sunrise-bakery") -> str:
    return f"/portal/sites/{slug}/subscription?checkout={outcome}&subscription={subscription_id}"


def test_the_success_page_waits_for_the_payment_then_confirms_it(shop: Shop, rosa: str) -> None:
    started = start(shop, rosa)
    success = path_of(shop.gateway.request_for(started["checkout_id"]).success_url)

    waiting = html(shop.client.get(success), 200)
    assert "waiting for the payment service to confirm" in waiting
    assert '<meta http-equiv="refresh" content="5">' in waiting

    provider_id, events = ProviderSimulator(shop.gateway, shop.clock).pay_checkout(started["checkout_id"])
    for event in events:
        shop.deliver(event)
    done = html(shop.client.get(success), 200)
    assert "Payment received: the website of Sunrise Bakery stays online." in done
    assert "renews on January 31, 2026" in done
    assert "http-equiv" not in done
    # Status and dates only: nothing personal, no provider ids.
    assert ROSA not in done
    assert provider_id not in done


def test_the_success_page_of_a_free_trial_says_when_the_first_charge_falls(shop: Shop, rosa: str) -> None:
    started = start(shop, rosa)
    success = path_of(shop.gateway.request_for(started["checkout_id"]).success_url)
    # The included hosting is a free trial: the provider charges nothing at the checkout.
    checkout = shop.gateway.pay(started["checkout_id"])
    assert checkout.subscription_id is not None
    shop.deliver(
        subscription_event_payload(
            checkout.subscription_id, "subscription.create", created_at=shop.clock.now(), customer_email=None
        )
    )
    first_charge = parse_time(started["first_charge_at"])
    done = html(shop.client.get(success), 200)
    assert "Nothing was charged today" in done
    assert (
        f"The first charge of $95.00 is on {first_charge:%B} {first_charge.day}, {first_charge.year}." in done
    )
    assert "Payment received" not in done


def test_the_cancel_page_says_nothing_was_charged(shop: Shop, rosa: str) -> None:
    started = start(shop, rosa)
    cancelled = path_of(shop.gateway.request_for(started["checkout_id"]).cancel_url)
    page = html(shop.client.get(cancelled), 200)
    assert "You left the checkout, and nothing was charged." in page
    assert "is online for now" in page


def test_a_suspended_sites_cancel_page_says_it_stays_offline(shop: Shop, rosa: str) -> None:
    shop.clock.advance(dt.timedelta(days=31))
    shop.container.sweep.run()
    started = start(shop, shop.login(ROSA))
    page = html(shop.client.get(page_url("cancelled", started["subscription_id"])), 200)
    assert "stays offline until a subscription" in page


def test_a_cancelled_subscriptions_page_gives_the_last_day_and_what_resuming_means(
    shop: Shop, rosa: str
) -> None:
    started, _ = subscribe(shop, rosa)
    shop.client.delete(subscription_url(), headers=bearer(rosa))
    page = html(shop.client.get(page_url("done", started["subscription_id"])), 200)
    assert "stays online until January 31, 2026" in page
    assert "not carried over" in page


@pytest.mark.parametrize(
    "query",
    [
        "checkout=done&subscription=not-a-uuid",
        "checkout=done&subscription=0b9d7f3e-0000-4000-8000-000000000000",
        "checkout=sideways&subscription={id}",
        "checkout=done",
        "subscription={id}",
    ],
)
def test_a_return_address_naming_no_subscription_of_the_site_is_a_404_page(
    shop: Shop, rosa: str, query: str
) -> None:
    started = start(shop, rosa)
    url = "/portal/sites/sunrise-bakery/subscription?" + query.format(id=started["subscription_id"])
    assert "This subscription cannot be found" in html(shop.client.get(url), 404)


def test_another_sites_subscription_is_not_shown_on_this_sites_page(shop: Shop, rosa: str) -> None:
    own_site(shop, rosa, "casa-rosa", "Casa Rosa", email=ROSA)
    started = start(shop, rosa, "casa-rosa")
    page = shop.client.get(page_url("done", started["subscription_id"], slug="sunrise-bakery"))
    assert "This subscription cannot be found" in html(page, 404)


def test_without_a_checkout_the_emails_link_leads_to_the_sites_portal_page(shop: Shop, rosa: str) -> None:
    response = shop.client.get("/portal/sites/sunrise-bakery/subscription", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/sites/sunrise-bakery#subscription"


@pytest.mark.parametrize("slug", ["no-such-site", "Not A Slug"])
def test_an_unknown_sites_page_is_a_404_page(shop: Shop, slug: str) -> None:
    assert "This site cannot be found" in html(shop.client.get(f"/portal/sites/{slug}/subscription"), 404)


def test_an_archived_sites_page_is_a_404_page(shop: Shop, rosa: str) -> None:
    shop.container.sites.archive("sunrise-bakery")
    assert "This site cannot be found" in html(
        shop.client.get("/portal/sites/sunrise-bakery/subscription"), 404
    )
