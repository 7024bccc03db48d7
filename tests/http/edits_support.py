"""The app with a scripted edit engine, for the edit tests (API and portal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
from content_support import content
from litestar.testing import TestClient
from payments_support import Shop
from subscriptions_support import API, bearer, own_site

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.lifecycle import Trigger
from webmagic_core.sites import Actor, Site
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakeMailer, FakePasswordHasher
from webmagic_core.testing.edits import FakeEditEngine
from webmagic_core.testing.payments import FakePaymentGateway
from webmagic_http.app import create_app
from webmagic_http.sandbox import InProcessDelivery

EDITS = f"{API}/sunrise-bakery/edits"


@attrs.define
class EditShop(Shop):
    engine: FakeEditEngine = attrs.field(factory=FakeEditEngine)

    def preview(self, slug: str = "sunrise-bakery", name: str = "Sunrise Bakery") -> Site:
        return self.container.sites.create_preview(slug, name, content(name))

    def owner(self, email: str, slug: str = "sunrise-bakery", name: str = "Sunrise Bakery") -> str:
        token = self.signed_in(email)
        own_site(self, token, slug, name, email=email)
        return token

    def ask(
        self, token: str, text: str = "Add the words Fresh bread daily", slug: str = "sunrise-bakery"
    ) -> Any:
        return self.client.post(f"{API}/{slug}/edits", json={"instructions": text}, headers=bearer(token))

    def drafted(self, token: str, text: str = "Add the words Fresh bread daily") -> dict[str, Any]:
        response = self.ask(token, text)
        assert response.status_code == 202, response.text
        self.container.edits.work()
        edit: dict[str, Any] = self.client.get(
            f"{EDITS}/{response.json()['id']}", headers=bearer(token)
        ).json()
        assert edit["status"] == "ready"
        return edit

    def move(self, slug: str, trigger: Trigger) -> None:
        with self.container.database.unit_of_work() as uow:
            site = uow.sites.get_by_slug(slug, for_update=True)
            assert site is not None
            site.apply(trigger, cause="test", actor=Actor.SYSTEM, at=self.clock.now())
            uow.sites.save(site)
            uow.commit()


@contextmanager
def open_edit_shop(data_dir: Path, **settings: Any) -> Iterator[EditShop]:
    clock, mailer = FakeClock(), FakeMailer()
    fake = FakePaymentGateway(clock=clock)
    engine = FakeEditEngine()
    container = bootstrap(
        load_settings(data_dir=data_dir, **settings),
        clock=clock,
        mailer=mailer,
        hasher=FakePasswordHasher(),
        gateway=fake,
        edit_engine=engine,
    )
    container.database.upgrade()
    try:
        app = create_app(container, sandbox_delivery=InProcessDelivery())
        with TestClient(app, base_url="http://testserver.local") as client:
            yield EditShop(client, container, clock, mailer, fake, engine)
    finally:
        container.close()
