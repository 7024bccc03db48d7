"""A slow provider holds no database lock: while a subscription webhook waits 7 s for
``GET /subscriptions/{id}``, an unrelated purchase and a publish go through at once, on
SQLite (one writer at a time) and PostgreSQL (row locks, a pooled connection each).

Wired by ``bootstrap`` as the app is; the provider is the fake of ``webmagic_core.testing``
behind a wrapper that makes its subscription reads slow."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest
from pydantic import SecretStr

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.settings import Settings
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.gateway import Checkout, CheckoutInfo, CheckoutRequest, SubscriptionInfo
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.payments.webhooks import VerifiedWebhook
from webmagic_core.sites import SiteContent
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer, FakePasswordHasher
from webmagic_core.testing.payments import FakePaymentGateway, payment_payload
from webmagic_core.testing.subscriptions import MONTHLY, OWNER, ProviderSimulator

SLOW = 7.0  # seconds the provider takes to answer a subscription read
PROMPT = 2.0  # what an unrelated write may take meanwhile


@attrs.define
class SlowReads:
    """The fake provider, with ``get_subscription`` taking ``SLOW`` seconds once armed."""

    inner: FakePaymentGateway
    armed: threading.Event = attrs.field(factory=threading.Event)
    reading: threading.Event = attrs.field(factory=threading.Event)

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        return self.inner.create_checkout(request)

    def get_checkout(self, checkout_id: str) -> CheckoutInfo:
        return self.inner.get_checkout(checkout_id)

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        if self.armed.is_set():
            self.reading.set()
            time.sleep(SLOW)
        return self.inner.get_subscription(subscription_id)

    def cancel_subscription(self, subscription_id: str) -> None:
        self.inner.cancel_subscription(subscription_id)

    def refund(self, payment_id: str) -> None:
        self.inner.refund(payment_id)

    def expire_checkout(self, checkout_id: str, at: dt.datetime) -> None:
        self.inner.expire_checkout(checkout_id, at)

    def list_checkouts(self, since: dt.datetime, *, limit: int = 500) -> Sequence[CheckoutInfo]:
        return self.inner.list_checkouts(since, limit=limit)


@pytest.fixture
def app(database: Database, tmp_path: Path) -> Iterator[tuple[Container, SlowReads, FakeClock]]:
    clock = FakeClock(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))
    gateway = SlowReads(FakePaymentGateway(clock=clock))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database.engine.url.render_as_string(hide_password=False),
        secret_key=SecretStr("test-secret-key-for-the-slow-provider-tests"),
        public_url="https://app.example.com",
        redis_url=None,
        subscription_price_cents=MONTHLY.amount_in_cents,
        currency=MONTHLY.currency,
    )
    container = bootstrap(
        settings, clock=clock, mailer=FakeMailer(), hasher=FakePasswordHasher(), gateway=gateway
    )
    yield container, gateway, clock
    container.close()


def deliver(container: Container, clock: FakeClock, payload: dict[str, object]) -> WebhookOutcome:
    body = json.dumps(payload).encode()
    webhook = VerifiedWebhook(message_id=f"msg_{uuid.uuid4().hex}", timestamp=clock.now(), body=body)
    return container.webhooks.receive(webhook)


def test_a_slow_subscription_read_delays_no_purchase_and_no_publish(
    app: tuple[Container, SlowReads, FakeClock],
) -> None:
    container, gateway, clock = app
    sites = container.sites
    sites.create_preview("casa-rosa", "Casa Rosa", SiteContent(html="<h1>Casa Rosa</h1>"))
    bought = container.purchases.start("casa-rosa", OWNER)
    paid = gateway.inner.pay(bought.checkout_id)
    assert deliver(container, clock, payment_payload(paid, customer_email=OWNER)) is WebhookOutcome.PROCESSED
    owner = sites.details("casa-rosa").site.owner_id
    assert owner is not None
    checkout = container.subscriptions.start(owner, "casa-rosa")
    _, events = ProviderSimulator(gateway.inner, clock).pay_checkout(checkout.checkout_id)
    sites.create_preview("panaderia", "Panaderia", SiteContent(html="<h1>Panaderia</h1>"))

    gateway.armed.set()
    outcomes: list[WebhookOutcome] = []
    slow = threading.Thread(target=lambda: outcomes.extend(deliver(container, clock, e) for e in events[:1]))
    slow.start()
    try:
        assert gateway.reading.wait(5), "the webhook never read the subscription"
        began = time.monotonic()
        container.purchases.start("panaderia", "ana@example.com", client="198.51.100.4")
        sites.publish("casa-rosa", SiteContent(html="<h1>Casa Rosa</h1><p>new menu</p>"))
        took = time.monotonic() - began
    finally:
        slow.join(SLOW + 10)
    assert took < PROMPT, f"an unrelated write waited {took:.1f} s for the provider"
    assert outcomes == [WebhookOutcome.PROCESSED]
    assert sites.details("casa-rosa").site.status is SiteStatus.ACTIVE
