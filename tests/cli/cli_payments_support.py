"""Helpers of the CLI tests of payments (test_payments_cli.py, test_webhooks_cli.py,
test_stats_cli.py, and ``sites show`` in test_sites.py).

``Shop`` holds the real services on the test's migrated SQLite file, wired by ``bootstrap``
with a fake clock and a scriptable fake payment gateway; ``open_shop`` makes the commands
under test wire the same two, so a purchase started here is one the command's gateway
knows, and times are the shop's.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
import pytest

from webmagic_adapters.bootstrap import Container, bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_cli import options
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.payments.webhooks import VerifiedWebhook
from webmagic_core.services.purchases import CheckoutStarted
from webmagic_core.sites import Site, SiteContent
from webmagic_core.testing import FakeClock
from webmagic_core.testing.payments import FakePaymentGateway, payment_payload

BUYER = "buyer@example.com"


@attrs.define
class Shop:
    container: Container
    clock: FakeClock
    gateway: FakePaymentGateway

    def later(self, seconds: float = 1) -> dt.datetime:
        return self.clock.advance(dt.timedelta(seconds=seconds))

    def preview(self, slug: str = "casa-rosa", business_name: str = "Casa Rosa") -> Site:
        content = SiteContent(html=f"<h1>{business_name}</h1>")
        return self.container.sites.create_preview(slug, business_name, content)

    def start(self, slug: str = "casa-rosa", email: str = BUYER) -> CheckoutStarted:
        return self.container.purchases.start(slug, email, "Rosa Díaz")

    def deliver(
        self, payload: Mapping[str, object], message_id: str | None = None
    ) -> tuple[str, WebhookOutcome]:
        """Hand a verified webhook to the services, as the HTTP endpoint does."""
        message_id = message_id or f"msg_{uuid.uuid4().hex[:20]}"
        webhook = VerifiedWebhook(
            message_id=message_id, timestamp=self.clock.now(), body=json.dumps(payload).encode()
        )
        return message_id, self.container.webhooks.receive(webhook)

    def pay(self, checkout_id: str, **payload: Any) -> tuple[str, WebhookOutcome]:
        """The buyer pays at the provider, which sends its signed webhook."""
        return self.deliver(payment_payload(self.gateway.pay(checkout_id), customer_email=BUYER, **payload))

    def buy(self, slug: str = "casa-rosa", business_name: str = "Casa Rosa") -> tuple[str, CheckoutStarted]:
        """A preview created, a purchase started a second later, and paid a second after that."""
        self.preview(slug, business_name)
        self.later()
        started = self.start(slug)
        self.later()
        message_id, outcome = self.pay(started.checkout_id)
        assert outcome is WebhookOutcome.PROCESSED
        return message_id, started


@contextmanager
def open_shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    """A ``Shop`` on the test's database (migrated first); the commands share its clock and gateway."""
    clock = FakeClock()
    gateway = FakePaymentGateway(clock=clock)
    monkeypatch.setattr(options, "bootstrap", functools.partial(bootstrap, clock=clock, gateway=gateway))
    container = bootstrap(load_settings(), clock=clock, gateway=gateway)
    try:
        yield Shop(container, clock, gateway)
    finally:
        container.close()
