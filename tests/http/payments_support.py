"""Helpers of the purchase, webhook and sandbox HTTP tests (test_purchase*.py,
test_webhooks*.py, test_sandbox*.py).

``open_shop`` runs the real app on a migrated SQLite file, wired by ``bootstrap`` with a
fake clock, a fast password hasher and a mail recorder, and, unless told otherwise, the
in-memory ``FakePaymentGateway`` (scriptable: ``pay``, ``fail_next``). ``sandbox=True``
keeps the bootstrap's own gateway: the sandbox, whose pages then deliver their webhooks to
the app in-process. Webhooks are signed with the app's own secret
(``settings.webhook_secret_value()``), as the provider (or the sandbox) signs them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.payments.svix import SvixWebhookSigner
from webmagic_adapters.settings import load_settings
from webmagic_core.accounts.emails import EmailMessage
from webmagic_core.payments.gateway import PaymentGateway
from webmagic_core.payments.purchases import Purchase
from webmagic_core.sites import Site, SiteContent
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer, FakePasswordHasher
from webmagic_core.testing.payments import FakePaymentGateway, payment_payload
from webmagic_http.app import create_app
from webmagic_http.sandbox import InProcessDelivery, WebhookDelivery

PROBLEM_JSON = "application/problem+json"
WEBHOOK = "/api/v1/webhooks/recurrente"
PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')
_PORTAL_LINK = re.compile(r"https?://\S+/portal/[a-z-]+\?token=\S+")


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem document of an error response, checked for shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert (body["status"], bool(body["title"]), bool(body["detail"])) == (status, True, True)
    return body


PORTAL_SCRIPT = '<script src="/portal/copy.js" defer></script>'


def html(response: httpx.Response, status: int) -> str:
    """The text of a page of the app (purchase, sandbox, portal), checked for the page headers."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.text.startswith("<!doctype html>")
    # No inline script, ever; the portal's site page may load its own copy-button script.
    assert "<script" not in response.text.lower().replace(PORTAL_SCRIPT, "")
    return response.text


def csrf_token(page: str) -> str:
    found = CSRF_FIELD.search(page)
    assert found, "no CSRF field in the page"
    return found[1]


def path_of(url: str) -> str:
    """The path and query of an absolute URL, to ask the test client for it."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query_of(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def portal_link(message: EmailMessage, page: str) -> str:
    links = [link for link in _PORTAL_LINK.findall(message.text) if f"/portal/{page}?" in link]
    assert links, f"no {page} link in:\n{message.text}"
    return links[0]


@attrs.define
class Shop:
    client: TestClient[Litestar]
    container: Container
    clock: FakeClock
    mailer: FakeMailer
    fake: FakePaymentGateway | None

    @property
    def gateway(self) -> FakePaymentGateway:
        assert self.fake is not None, "this shop runs on the sandbox gateway"
        return self.fake

    def preview(self, slug: str = "sunrise-bakery", name: str = "Sunrise Bakery") -> Site:
        return self.container.sites.create_preview(slug, name, SiteContent(html=f"<h1>{name}</h1>"))

    def buy(self, slug: str = "sunrise-bakery", body: Any = None, **kwargs: Any) -> httpx.Response:
        if body is None and "content" not in kwargs:
            body = {"email": "rosa@example.com", "full_name": "Rosa Díaz"}
        return self.client.post(f"/api/v1/sites/{slug}/purchase", json=body, **kwargs)

    def started(self, slug: str = "sunrise-bakery", email: str = "rosa@example.com") -> dict[str, Any]:
        response = self.buy(slug, {"email": email})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def purchase(self, purchase_id: str | uuid.UUID) -> Purchase:
        return self.container.purchases.get(uuid.UUID(str(purchase_id)))

    def site(self, slug: str = "sunrise-bakery") -> Site:
        return self.container.sites.details(slug).site

    # --- webhooks, signed as the provider does ---------------------------------------------

    def signed(
        self,
        body: bytes,
        *,
        message_id: str | None = None,
        at: dt.datetime | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        signer = SvixWebhookSigner(secret or self.container.settings.webhook_secret_value())
        headers = signer.sign(message_id or f"msg_{uuid.uuid4().hex}", at or self.clock.now(), body)
        return {**headers, "content-type": "application/json"}

    def deliver(self, payload: Mapping[str, object] | bytes, **signing: Any) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.post(WEBHOOK, content=body, headers=self.signed(body, **signing))

    def paid_payload(self, checkout_id: str, **options: Any) -> dict[str, object]:
        """Pay ``checkout_id`` at the fake provider; the ``payment_intent.succeeded`` body it sends."""
        return payment_payload(self.gateway.pay(checkout_id), **options)

    # --- mail and accounts -----------------------------------------------------------------

    def mail_to(self, address: str) -> list[EmailMessage]:
        self.container.relay.drain()
        return self.mailer.to(address)

    def signed_in(self, email: str, password: str = PASSWORD) -> str:
        """A verified account for ``email`` (through the API); its access token."""
        api = "/api/v1/customer"
        assert (
            self.client.post(f"{api}/register", json={"email": email, "password": password}).status_code
            == 202
        )
        token = query_of(portal_link(self.mail_to(email)[-1], "verify-email"), "token")
        assert self.client.post(f"{api}/verify-email", json={"token": token}).status_code == 200
        return self.login(email, password)

    def login(self, email: str, password: str = PASSWORD) -> str:
        response = self.client.post("/api/v1/customer/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


def shop_container(
    data_dir: Path, *, gateway: PaymentGateway | None, clock: FakeClock, mailer: FakeMailer, **settings: Any
) -> Container:
    container = bootstrap(
        load_settings(data_dir=data_dir, **settings),
        clock=clock,
        mailer=mailer,
        hasher=FakePasswordHasher(),
        gateway=gateway,
    )
    container.database.upgrade()
    return container


@contextmanager
def open_shop(
    data_dir: Path,
    *,
    sandbox: bool = False,
    delivery: WebhookDelivery | None = None,
    base_url: str = "http://testserver.local",
    **settings: Any,
) -> Iterator[Shop]:
    """The app on ``data_dir`` with the fake gateway, or (``sandbox=True``) the sandbox;
    ``base_url``: the host the client talks to (``http://localhost`` is one of the app's
    own, where webhook deliveries take the fast path in front of Litestar)."""
    clock, mailer = FakeClock(), FakeMailer()
    fake = None if sandbox else FakePaymentGateway(clock=clock)
    container = shop_container(data_dir, gateway=fake, clock=clock, mailer=mailer, **settings)
    try:
        app = create_app(container, sandbox_delivery=delivery or InProcessDelivery())
        with TestClient(app, base_url=base_url) as client:
            yield Shop(client, container, clock, mailer, fake)
    finally:
        container.close()
