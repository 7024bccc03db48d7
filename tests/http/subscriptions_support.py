"""Helpers of the owner's-site and subscription HTTP tests (test_customer_sites*.py,
test_subscriptions*.py), on top of ``payments_support.open_shop``.

A customer signs up through the API, buys a preview while signed in (so the site is
theirs), and pays a subscription's checkout at the fake provider through
``ProviderSimulator``, whose webhooks are delivered signed to the app's endpoint.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from payments_support import Shop

from webmagic_core.testing.subscriptions import ProviderSimulator

API = "/api/v1/customer/sites"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def own_site(
    shop: Shop, token: str, slug: str = "sunrise-bakery", name: str = "Sunrise Bakery", *, email: str
) -> None:
    """A preview bought by the signed-in customer of ``token`` (paid at the fake provider)."""
    shop.preview(slug, name)
    started = shop.client.post(f"/api/v1/sites/{slug}/purchase", headers=bearer(token))
    assert started.status_code == 201, started.text
    paid = shop.deliver(shop.paid_payload(started.json()["checkout_id"], customer_email=email))
    assert paid.json() == {"status": "processed"}


def subscription_url(slug: str = "sunrise-bakery") -> str:
    return f"{API}/{slug}/subscription"


def start(shop: Shop, token: str, slug: str = "sunrise-bakery") -> dict[str, Any]:
    response = shop.client.post(subscription_url(slug), headers=bearer(token))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def subscribe(shop: Shop, token: str, slug: str = "sunrise-bakery") -> tuple[dict[str, Any], str]:
    """Start a subscription and pay its checkout at the fake provider, delivering both
    webhooks: the started body and the provider's ``su_...`` id."""
    started = start(shop, token, slug)
    provider_id, events = ProviderSimulator(shop.gateway, shop.clock).pay_checkout(started["checkout_id"])
    for event in events:
        assert shop.deliver(event).json() == {"status": "processed"}
    return started, provider_id


def parse_time(value: str) -> dt.datetime:
    """An API time: ISO 8601 with an explicit UTC offset."""
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.utcoffset() == dt.timedelta(0), value
    return parsed
