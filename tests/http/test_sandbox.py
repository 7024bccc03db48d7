"""The sandbox payment flow: the app's own hosted checkout page (``/sandbox/checkout/{id}``)
whose Pay and Decline buttons deliver Svix-signed webhooks to the app's webhook endpoint.

One end-to-end test runs the real app in a real single-worker server (uvicorn, in a
thread) on SQLite and drives it over HTTP like a browser, from the preview to the new
owner's first API call; the sandbox delivers its webhook to the server's own public URL.
The other tests use the test client, the sandbox delivering in-process."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from payments_support import (
    PASSWORD,
    Shop,
    csrf_token,
    html,
    open_shop,
    path_of,
    portal_link,
    query_of,
    shop_container,
)

from webmagic_adapters.bootstrap import Container
from webmagic_adapters.payments.recurrente import RecurrenteGateway
from webmagic_adapters.payments.sandbox import SandboxGateway
from webmagic_adapters.payments.svix import generate_secret
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.gateway import CheckoutStatus
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.purchases import ReconcileResult
from webmagic_core.sites import SiteContent
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer
from webmagic_http.app import create_app
from webmagic_http.sandbox import HttpDelivery

CHECKOUT = re.compile(r"/sandbox/checkout/(ch_sandbox_[0-9a-f]+)$")


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(container: Container, sock: socket.socket) -> Iterator[None]:
    """``container``'s app in a uvicorn server (one worker) on ``sock``, until the block ends."""
    config = uvicorn.Config(create_app(container), log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_preview_is_bought_in_the_sandbox_and_its_new_owner_signs_in(tmp_path: Path) -> None:
    sock = bound_socket()
    public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    mailer = FakeMailer()
    container = shop_container(
        tmp_path / "data", gateway=None, clock=FakeClock(), mailer=mailer, public_url=public_url
    )
    try:
        assert isinstance(container.gateway, SandboxGateway)
        container.sites.create_preview(
            "sunrise-bakery", "Sunrise Bakery", SiteContent(html="<h1>Sunrise</h1>")
        )
        with serving(container, sock), httpx.Client(base_url=public_url, timeout=10) as browser:
            # The preview carries the banner; its button opens the purchase page.
            preview = browser.get("/sunrise-bakery")
            assert preview.headers["x-robots-tag"] == "noindex"
            assert f'href="{public_url}/purchase/sunrise-bakery"' in preview.text
            form = html(browser.get("/purchase/sunrise-bakery"), 200)
            assert "Buy the website of Sunrise Bakery" in form
            assert "$495.00" in form

            to_checkout = browser.post(
                "/purchase/sunrise-bakery",
                data={"_csrf_token": csrf_token(form), "email": "rosa@example.com", "full_name": "Rosa Díaz"},
            )
            assert to_checkout.status_code == 303
            checkout_url = to_checkout.headers["location"]
            assert CHECKOUT.search(checkout_url), checkout_url

            checkout = html(browser.get(path_of(checkout_url)), 200)
            assert "SANDBOX" in checkout
            assert "Pay $495.00" in checkout
            paid = browser.post(path_of(checkout_url) + "/pay", data={"_csrf_token": csrf_token(checkout)})

            # The server delivered the signed webhook to itself and then sent the buyer on.
            assert paid.status_code == 303, paid.text
            thanks_url = paid.headers["location"]
            assert thanks_url.startswith(f"{public_url}/purchase/sunrise-bakery/thanks?purchase=")
            [webhook] = container.webhooks.list()
            assert (webhook.event_type, webhook.outcome) == (
                "payment_intent.succeeded",
                WebhookOutcome.PROCESSED,
            )
            assert "is yours" in html(browser.get(path_of(thanks_url)), 200)

            # The site is owned: the banner and the noindex are gone.
            owned = browser.get("/sunrise-bakery")
            assert owned.status_code == 200
            assert "/purchase/sunrise-bakery" not in owned.text
            assert "x-robots-tag" not in owned.headers
            assert container.sites.details("sunrise-bakery").site.status is SiteStatus.OWNED

            # The welcome email's link sets the password of the new account...
            container.relay.drain()
            templates = sorted(message.template for message in mailer.to("rosa@example.com"))
            assert templates == sorted(
                [EmailTemplate.PURCHASE_CONFIRMATION, EmailTemplate.WELCOME_SET_PASSWORD]
            )
            [welcome] = [m for m in mailer.sent if m.template is EmailTemplate.WELCOME_SET_PASSWORD]
            link = portal_link(welcome, "set-password")
            assert link.startswith(f"{public_url}/portal/set-password?token=")
            set_form = html(browser.get(path_of(link)), 200)
            done = browser.post(
                "/portal/set-password",
                data={
                    "_csrf_token": csrf_token(set_form),
                    "token": query_of(link, "token"),
                    "password": PASSWORD,
                    "password_confirmation": PASSWORD,
                },
            )
            assert "Your password is set" in html(done, 200)

            # ...with which the owner signs in through the API.
            login = browser.post(
                "/api/v1/customer/login", json={"email": "rosa@example.com", "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            me = browser.get(
                "/api/v1/customer/me", headers={"authorization": f"Bearer {login.json()['access_token']}"}
            )
            assert me.status_code == 200
            assert (me.json()["email"], me.json()["full_name"], me.json()["email_verified"]) == (
                "rosa@example.com",
                "Rosa Díaz",
                True,
            )
    finally:
        container.close()
        sock.close()


# --- the sandbox pages on the test client ----------------------------------------------------


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with open_shop(tmp_path / "data", sandbox=True) as running:
        running.preview()
        yield running


def checkout_page(shop: Shop, email: str = "rosa@example.com") -> tuple[str, str]:
    """Start a purchase through the API; the sandbox checkout's path and its page."""
    url = shop.started(email=email)["checkout_url"]
    assert url.startswith("http://127.0.0.1:8000/sandbox/checkout/ch_sandbox_")
    return path_of(url), html(shop.client.get(path_of(url)), 200)


def press(shop: Shop, path: str, page: str, button: str) -> httpx.Response:
    return shop.client.post(
        f"{path}/{button}", data={"_csrf_token": csrf_token(page)}, follow_redirects=False
    )


def test_the_checkout_page_is_clearly_a_sandbox(shop: Shop) -> None:
    path, page = checkout_page(shop)
    assert "SANDBOX" in page
    assert "Sunrise Bakery" in page
    assert "$495.00" in page
    assert f'action="{path}/pay"' in page
    assert f'action="{path}/decline"' in page
    assert page.count('name="_csrf_token"') == 2


def test_declining_keeps_the_checkout_payable_and_the_site_held(shop: Shop) -> None:
    path, page = checkout_page(shop)

    declined = press(shop, path, page, "decline")

    assert declined.status_code == 303
    cancel_url = declined.headers["location"]
    assert cancel_url.startswith("http://127.0.0.1:8000/purchase/sunrise-bakery/cancelled?purchase=")
    [webhook] = shop.container.webhooks.list()
    assert (webhook.event_type, webhook.outcome) == ("payment_intent.failed", WebhookOutcome.PROCESSED)
    purchase = shop.purchase(query_of(cancel_url, "purchase"))
    assert purchase.status is PurchaseStatus.PENDING
    cancelled = html(shop.client.get(path_of(cancel_url)), 200)
    assert "The payment did not go through, and nothing was charged." in cancelled
    assert "Release the site" in cancelled
    assert shop.purchase(purchase.id).status is PurchaseStatus.PENDING
    assert shop.site().status is SiteStatus.PREVIEW
    assert shop.client.get("/sunrise-bakery").headers["x-robots-tag"] == "noindex"
    # Held for this buyer, who may pay with another card on the same page.
    assert shop.buy(body={"email": "ana@example.com"}).status_code == 409
    assert press(shop, path, html(shop.client.get(path), 200), "pay").status_code == 303
    assert shop.purchase(purchase.id).status is PurchaseStatus.PAID


def test_paying_twice_delivers_one_webhook(shop: Shop) -> None:
    path, page = checkout_page(shop)
    assert press(shop, path, page, "pay").status_code == 303

    again = press(shop, path, page, "pay")

    assert "This checkout is paid already." in html(again, 409)
    assert len(shop.container.webhooks.list()) == 1
    assert "This checkout is paid." in html(shop.client.get(path), 200)
    assert "/pay" not in shop.client.get(path).text


def test_a_button_without_its_csrf_token_does_nothing(shop: Shop) -> None:
    path, _ = checkout_page(shop)
    response = shop.client.post(f"{path}/pay", data={}, follow_redirects=False)
    assert "could not be accepted" in html(response, 403)
    assert shop.container.webhooks.list() == []


def test_an_unknown_checkout_is_a_404_page(shop: Shop) -> None:
    assert "No such checkout" in html(shop.client.get("/sandbox/checkout/ch_sandbox_nope"), 404)


def test_an_expired_checkout_takes_no_payment(shop: Shop) -> None:
    path, page = checkout_page(shop)
    shop.clock.advance(dt.timedelta(minutes=31))

    assert "expired" in html(shop.client.get(path), 200)
    assert "expired" in html(press(shop, path, page, "pay"), 409)
    assert shop.container.webhooks.list() == []


def test_an_undelivered_webhook_is_explained_and_reconciliation_applies_the_payment(tmp_path: Path) -> None:
    closed = bound_socket()
    nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there: the delivery is refused
    with open_shop(tmp_path / "data", sandbox=True, delivery=HttpDelivery.to(nowhere)) as shop:
        shop.preview()
        path, page = checkout_page(shop)

        response = press(shop, path, page, "pay")

        text = html(response, 502)
        assert "webmagic payments reconcile" in text
        assert shop.container.webhooks.list() == []
        assert shop.container.sandbox is not None
        checkout_id = path.rsplit("/", 1)[1]
        assert shop.container.sandbox.get_checkout(checkout_id).status is CheckoutStatus.PAID
        assert shop.site().status is SiteStatus.PREVIEW

        report = shop.container.purchases.reconcile()

        assert [item.result for item in report.items] == [ReconcileResult.PAID]
        assert shop.site().status is SiteStatus.OWNED


def test_with_real_payments_there_is_no_sandbox(tmp_path: Path) -> None:
    with open_shop(
        tmp_path / "data",
        sandbox=True,
        payments="recurrente",
        recurrente_public_key="pk_test_abc",
        recurrente_secret_key="sk_test_abc",
        recurrente_webhook_secret=generate_secret(),
    ) as shop:
        assert isinstance(shop.container.gateway, RecurrenteGateway)
        assert shop.container.sandbox is None
        assert shop.client.get("/sandbox/checkout/ch_sandbox_1").status_code == 404
        assert shop.client.post("/sandbox/checkout/ch_sandbox_1/pay").status_code == 404
