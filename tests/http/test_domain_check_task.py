"""The in-process custom-domain check of an app that owns its container, with the real
dnspython resolver asking a DNS server the test starts on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from dns_support import Zone, running_dns_server
from webmagic_adapters.bootstrap import Container
from webmagic_core.accounts.customers import Customer
from webmagic_core.domains.model import DomainStatus
from webmagic_core.lifecycle import Trigger
from webmagic_core.sites import Actor, SiteContent
from webmagic_http.app import create_app
from webmagic_http.domain_task import BackgroundDomainCheck

NAME = "shop.example"


@pytest.fixture
def zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zone]:
    served = Zone(txt={}, names=set(), servfail=set(), timeout=set())
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        probe_port = closed.getsockname()[1]
    with running_dns_server(served) as port:
        monkeypatch.setenv("WEBMAGIC_DATA_DIR", str(tmp_path / "env-data"))
        monkeypatch.setenv("WEBMAGIC_OUTBOX_INTERVAL_SECONDS", "0")
        monkeypatch.setenv("WEBMAGIC_SWEEP_INTERVAL_SECONDS", "0")
        monkeypatch.setenv("WEBMAGIC_DNS_NAMESERVERS", f"127.0.0.1:{port}")
        monkeypatch.setenv("WEBMAGIC_DNS_TIMEOUT_SECONDS", "1")
        monkeypatch.setenv("WEBMAGIC_TLS_PROBE_PORT", str(probe_port))
        yield served


def test_a_lost_record_lapses_in_the_background_and_the_name_stops_being_served(
    zone: Zone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBMAGIC_DOMAIN_CHECK_INTERVAL_SECONDS", "0.05")
    monkeypatch.setenv("WEBMAGIC_DOMAIN_GRACE_HOURS", "0")
    app = create_app()
    container: Container = app.state.container
    container.database.upgrade()
    container.sites.create_preview("bakery", "Bakery", SiteContent(html="<h1>Bakery</h1>"))
    owner = Customer.new(email="rosa@example.com", now=container.clock.now())
    with container.database.unit_of_work() as uow:
        uow.customers.add(owner)
        site = uow.sites.get_by_slug("bakery", for_update=True)
        assert site is not None
        site.apply(Trigger.PURCHASE_PAID, cause="test", actor=Actor.SYSTEM, at=container.clock.now())
        site.owner_id = owner.id
        uow.sites.save(site)
        uow.commit()
    domain = container.domains.attach(owner.id, "bakery", NAME)
    zone.txt[domain.challenge_name] = [[domain.token]]
    assert container.domains.verify(owner.id, "bakery").status is DomainStatus.VERIFIED

    with TestClient(app) as client:
        assert client.get("/", headers={"host": NAME}).status_code == 200
        del zone.txt[domain.challenge_name]
        background: BackgroundDomainCheck = app.state.domain_check
        deadline = time.monotonic() + 20
        while container.domains.get(owner.id, "bakery").status is not DomainStatus.LAPSED:
            assert time.monotonic() < deadline, "the background check did not lapse the domain"
            time.sleep(0.05)
        assert client.get("/", headers={"host": NAME}).status_code == 404
        assert client.get(f"/internal/tls/ask?domain={NAME}").status_code == 404
    assert background.failures == 0
