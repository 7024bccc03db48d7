"""The whole hosting lifecycle over HTTP on the sandbox gateway, as a customer and the
sandbox's provider simulations would drive it on a fresh machine: buy a preview, set the
password, sign in, subscribe, a failed renewal and its recovery, cancel at period end, the
sweep suspending the site when the paid time is over, and a new subscription bringing it
back exactly as it was. The app runs on a fake clock; webhooks go to its endpoint signed
by the sandbox."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from payments_support import WEBHOOK, Shop, csrf_token, html, open_shop, path_of, portal_link, query_of
from subscriptions_support import bearer, parse_time, subscription_url

from webmagic_adapters.payments.provider_model import add_month
from webmagic_adapters.payments.sandbox import SandboxGateway
from webmagic_adapters.payments.sandbox_delivery import SandboxWebhook
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.gateway import SubscriptionStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.sites import SiteContent

ROSA = "rosa@example.com"
PASSWORD = "a long and lovely passphrase"
SLUG = "sunrise-bakery"
CONTENT = SiteContent(
    html='<!doctype html><html><head><link rel="stylesheet" href="styles.css"></head>'
    "<body><h1>Sunrise Bakery</h1><p>Fresh bread every morning.</p>"
    '<script src="app.js"></script></body></html>',
    css="h1 { color: #c0392b; }",
    js="document.body.dataset.ready = '1';",
)
SANDBOX_CHECKOUT = re.compile(r"^http://127\.0\.0\.1:8000/sandbox/checkout/ch_sandbox_[0-9a-f]+$")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data", sandbox=True) as running:
        assert isinstance(running.container.gateway, SandboxGateway)
        running.container.sites.create_preview(SLUG, "Sunrise Bakery", CONTENT)
        yield running


def sandbox(shop: Shop) -> SandboxGateway:
    gateway = shop.container.sandbox
    assert gateway is not None
    return gateway


def pay_on_the_sandbox_page(shop: Shop, checkout_url: str) -> httpx.Response:
    """Press "Pay" on the sandbox's checkout page; the page delivers the webhooks in-process
    and sends the browser on to the success URL. The page it leads to."""
    assert SANDBOX_CHECKOUT.match(checkout_url), checkout_url
    page = html(shop.client.get(path_of(checkout_url)), 200)
    paid = shop.client.post(
        path_of(checkout_url) + "/pay", data={"_csrf_token": csrf_token(page)}, follow_redirects=False
    )
    assert paid.status_code == 303, paid.text
    return shop.client.get(path_of(paid.headers["location"]))


def deliver(shop: Shop, webhooks: list[SandboxWebhook]) -> None:
    """POST the simulation's signed webhooks to the app, as the provider would."""
    for webhook in webhooks:
        response = shop.client.post(WEBHOOK, content=webhook.body, headers=dict(webhook.headers))
        assert response.json() == {"status": "processed"}, (webhook.event_type, response.text)


def subscription(shop: Shop, token: str) -> dict[str, Any]:
    response = shop.client.get(subscription_url(), headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_hosting_lifecycle_end_to_end_on_the_sandbox(shop: Shop) -> None:
    clock, container = shop.clock, shop.container

    # Bought through the sandbox checkout; the welcome email sets the password.
    purchase = shop.started(SLUG, ROSA)
    assert "is yours" in html(pay_on_the_sandbox_page(shop, purchase["checkout_url"]), 200)
    [welcome] = [m for m in shop.mail_to(ROSA) if m.template is EmailTemplate.WELCOME_SET_PASSWORD]
    token = query_of(portal_link(welcome, "set-password"), "token")
    reset = shop.client.post(
        "/api/v1/customer/reset-password", json={"token": token, "new_password": PASSWORD}
    )
    assert reset.status_code == 200, reset.text
    rosa = shop.login(ROSA, PASSWORD)
    assert shop.site().status is SiteStatus.OWNED

    # Subscribing: a monthly sandbox checkout, paid on its page.
    started = shop.client.post(subscription_url(), headers=bearer(rosa))
    assert started.status_code == 201, started.text
    checkout_page = html(shop.client.get(path_of(started.json()["checkout_url"])), 200)
    assert '$95.00 <span class="muted">per month</span>' in checkout_page
    returned = pay_on_the_sandbox_page(shop, started.json()["checkout_url"])
    assert "Payment received: the website of Sunrise Bakery stays online." in html(returned, 200)
    events = {(e.event_type, e.outcome) for e in container.webhooks.list()}
    assert {
        ("payment_intent.succeeded", WebhookOutcome.PROCESSED),
        ("subscription.create", WebhookOutcome.PROCESSED),
    } <= events
    active = subscription(shop, rosa)
    assert active["status"] == "active"
    first_period_end = parse_time(active["current_period_end"])
    # Bought today: the 30 included days become a free trial of 4 whole weeks.
    assert first_period_end == dt.datetime(2026, 1, 29, 12, tzinfo=dt.UTC)
    assert shop.site().status is SiteStatus.ACTIVE
    online = shop.client.get(f"/{SLUG}")
    assert online.status_code == 200
    assert "Fresh bread every morning." in online.text
    styles = shop.client.get(f"/{SLUG}/styles.css").text

    provider_id = sandbox(shop).get_checkout(started.json()["checkout_id"]).subscription_id
    assert provider_id is not None

    # The renewal fails at the period end: past_due, and the site keeps serving.
    clock.current = first_period_end
    deliver(shop, sandbox(shop).fail(provider_id))
    rosa = shop.login(ROSA, PASSWORD)
    past_due = subscription(shop, rosa)
    assert past_due["status"] == "past_due"
    assert parse_time(past_due["next_payment_attempt_at"]) == first_period_end + dt.timedelta(days=3)
    assert shop.site().status is SiteStatus.PAST_DUE
    assert shop.client.get(f"/{SLUG}").text == online.text

    # A retry succeeds: active again, for the month the failed renewal opened.
    clock.advance(dt.timedelta(days=3))
    deliver(shop, sandbox(shop).recover(provider_id))
    rosa = shop.login(ROSA, PASSWORD)
    recovered = subscription(shop, rosa)
    second_period_end = add_month(first_period_end)  # a calendar month
    assert (recovered["status"], parse_time(recovered["current_period_end"])) == ("active", second_period_end)
    assert len(recovered["payments"]) == 2
    assert shop.site().status is SiteStatus.ACTIVE

    # Cancelled at period end: no more charges, online until the paid month is over.
    cancelled = shop.client.delete(subscription_url(), headers=bearer(rosa))
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["cancel_at_period_end"]) == ("cancelled", True)
    assert parse_time(cancelled.json()["ends_at"]) == second_period_end
    assert sandbox(shop).get_subscription(provider_id).status is SubscriptionStatus.CANCELLED
    clock.current = second_period_end - dt.timedelta(minutes=1)
    assert container.sweep.run().sites_suspended == 0
    assert shop.client.get(f"/{SLUG}").status_code == 200

    # Past the end of the paid time the sweep suspends it: a 503 page.
    clock.current = second_period_end + dt.timedelta(minutes=1)
    report = container.sweep.run()
    assert (report.subscriptions_ended, report.sites_suspended, report.errors) == (1, 1, ())
    assert shop.site().status is SiteStatus.SUSPENDED
    offline = shop.client.get(f"/{SLUG}")
    assert offline.status_code == 503
    assert "Fresh bread" not in offline.text

    # A new subscription brings it back exactly as it was.
    rosa = shop.login(ROSA, PASSWORD)
    again = shop.client.post(subscription_url(), headers=bearer(rosa))
    assert again.status_code == 201, again.text
    assert again.json()["subscription_id"] != started.json()["subscription_id"]
    pay_on_the_sandbox_page(shop, again.json()["checkout_url"])
    assert subscription(shop, rosa)["status"] == "active"
    assert shop.site().status is SiteStatus.ACTIVE
    back = shop.client.get(f"/{SLUG}")
    assert back.status_code == 200
    assert back.text == online.text
    assert shop.client.get(f"/{SLUG}/styles.css").text == styles
    versions = shop.client.get(f"/api/v1/customer/sites/{SLUG}/versions", headers=bearer(rosa)).json()
    assert [(v["number"], v["current"]) for v in versions] == [(1, True)]

    # Each step told the owner, once.
    templates = [m.template for m in shop.mail_to(ROSA)]
    for template, times in (
        (EmailTemplate.SUBSCRIPTION_STARTED, 2),
        (EmailTemplate.PAYMENT_FAILED, 1),
        (EmailTemplate.SUBSCRIPTION_RECEIPT, 1),  # the recovery (a first payment is in "started")
        (EmailTemplate.SUBSCRIPTION_CANCELLED, 1),
        (EmailTemplate.SITE_SUSPENDED, 1),
        (EmailTemplate.SITE_RESTORED, 1),
    ):
        assert templates.count(template) == times, template


def test_leaving_the_sandbox_checkout_leads_to_a_working_page(shop: Shop) -> None:
    token = shop.signed_in(ROSA)
    bought = shop.client.post(f"/api/v1/sites/{SLUG}/purchase", headers=bearer(token))
    pay_on_the_sandbox_page(shop, bought.json()["checkout_url"])
    started = shop.client.post(subscription_url(), headers=bearer(token)).json()
    checkout = sandbox(shop).checkout(started["checkout_id"])

    page = html(shop.client.get(path_of(checkout.cancel_url)), 200)

    assert "You left the checkout, and nothing was charged." in page
    assert shop.site().status is SiteStatus.OWNED
