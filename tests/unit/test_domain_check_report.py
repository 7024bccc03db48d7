"""The check report counts every domain it saw fail, lapse or go unanswered, not just one."""

from __future__ import annotations

import datetime as dt

from webmagic_adapters.domain_names import domain_normalizer
from webmagic_core.accounts.customers import Customer
from webmagic_core.domains.model import DomainEventKind
from webmagic_core.domains.ports import SeenCertificate
from webmagic_core.lifecycle import Trigger
from webmagic_core.services.domains import DomainConfig, DomainService
from webmagic_core.sites import Actor, Site
from webmagic_core.testing import FakeClock
from webmagic_core.testing.domains import (
    FakeCertificateProbe,
    FakeDnsResolver,
    FakeDomainUnitOfWorkFactory,
    FakeHostDirectory,
)

GRACE = dt.timedelta(hours=168)
NAMES = ("shop.example", "store.example")


def test_the_report_counts_each_domain() -> None:
    clock = FakeClock()
    uow = FakeDomainUnitOfWorkFactory()
    dns = FakeDnsResolver()
    probe = FakeCertificateProbe()
    service = DomainService(
        uow=uow,
        clock=clock,
        resolver=dns,
        probe=probe,
        normalize=domain_normalizer({"sites.webmagic.test"}),
        config=DomainConfig(
            cnames_to="sites.webmagic.test",
            grace=GRACE,
            site_url=lambda slug: f"https://sites.webmagic.test/{slug}",
            manage_url=lambda slug: f"https://app.webmagic.test/portal/sites/{slug}",
            admin_email="ops@webmagic.test",
        ),
        directory=FakeHostDirectory(uow),
    )
    owner = Customer.new(email="rosa@example.com", password_hash="x", now=clock.now())
    with uow() as tx:
        tx.customers.add(owner)
        tx.commit()
    for n, name in enumerate(NAMES):
        site = Site.new_preview(
            slug=f"site-{n}", business_name="B", now=clock.now(), actor=Actor.ADMIN, cause="t"
        )
        site.apply(Trigger.PURCHASE_PAID, cause="t", actor=Actor.SYSTEM, at=clock.now())
        site.owner_id = owner.id
        with uow() as tx:
            tx.sites.add(site)
            tx.commit()
        token = service.attach(owner.id, site.slug, name).token
        dns.set_txt(f"_webmagic-challenge.{name}", token)
        service.verify(owner.id, site.slug)
    challenges = [f"_webmagic-challenge.{name}" for name in NAMES]
    for name in NAMES:
        probe.certificates[name] = SeenCertificate(
            not_after=clock.now() + dt.timedelta(days=60), matches=True, fingerprint=f"fp-{name}"
        )
    # The certificates are counted as the probe found them now, not as they were before.
    assert service.check().certificates == {"valid": 2}
    ends = (clock.now() + dt.timedelta(days=60)).isoformat()
    details = sorted(e.detail for e in uow.domain_store.events if e.kind is DomainEventKind.CERTIFICATE)
    assert details == [f"unknown -> valid: certificate valid until {ends}"] * 2

    dns.servfail.update(challenges)
    assert service.check().inconclusive == 2
    dns.servfail.clear()
    for challenge in challenges:
        dns.clear(challenge)
    assert service.check().failing == 2
    clock.advance(GRACE)
    assert service.check().lapsed == 2
