"""The app with a fake DNS resolver and certificate probe, for the custom-domain tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
from litestar.testing import TestClient
from payments_support import Shop
from subscriptions_support import API, bearer, own_site

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer, FakePasswordHasher
from webmagic_core.testing.domains import FakeCertificateProbe, FakeDnsResolver
from webmagic_core.testing.payments import FakePaymentGateway
from webmagic_http.app import create_app
from webmagic_http.sandbox import InProcessDelivery

SITES_DOMAIN = "sites.webmagic.test"


@attrs.define
class DomainShop(Shop):
    dns: FakeDnsResolver = attrs.field(factory=FakeDnsResolver)
    probe: FakeCertificateProbe = attrs.field(factory=FakeCertificateProbe)

    def owner(self, email: str, slug: str = "sunrise-bakery", name: str = "Sunrise Bakery") -> str:
        token = self.signed_in(email)
        own_site(self, token, slug, name, email=email)
        return token

    def put_domain(self, token: str, domain: Any, slug: str = "sunrise-bakery") -> Any:
        return self.client.put(f"{API}/{slug}/domain", json={"domain": domain}, headers=bearer(token))

    def verify(self, token: str, slug: str = "sunrise-bakery") -> Any:
        return self.client.post(f"{API}/{slug}/domain/verify", headers=bearer(token))

    def prove(self, token: str, slug: str = "sunrise-bakery") -> dict[str, Any]:
        """Publish the TXT record the API asks for, and verify."""
        body = self.client.get(f"{API}/{slug}/domain", headers=bearer(token)).json()
        txt = next(r for r in body["dns_records"] if r["type"] == "TXT")
        self.dns.set_txt(txt["name"], txt["value"])
        response = self.verify(token, slug)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@contextmanager
def open_domain_shop(data_dir: Path, **settings: Any) -> Iterator[DomainShop]:
    clock, mailer = FakeClock(), FakeMailer()
    fake = FakePaymentGateway(clock=clock)
    dns, probe = FakeDnsResolver(), FakeCertificateProbe()
    container = bootstrap(
        load_settings(data_dir=data_dir, **settings),
        clock=clock,
        mailer=mailer,
        hasher=FakePasswordHasher(),
        gateway=fake,
        resolver=dns,
        probe=probe,
    )
    container.database.upgrade()
    try:
        app = create_app(container, sandbox_delivery=InProcessDelivery())
        # Under a real public name the app refuses unknown host names: talk to it by that name.
        with TestClient(app, base_url=settings.get("public_url", "http://testserver.local")) as client:
            yield DomainShop(client, container, clock, mailer, fake, dns, probe)
    finally:
        container.close()
