"""Several checkers at once (server instances, ``webmagic domains check`` from cron) on
SQLite and PostgreSQL (conftest's ``database``): a lost record moves the domain to failing
once, and its owner gets one mail, however many checkers saw it."""

from __future__ import annotations

import datetime as dt
import threading

from webmagic_adapters.domain_names import domain_normalizer
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.domains_repository import domain_units_of_work
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.domains.model import DomainEventKind, DomainStatus
from webmagic_core.lifecycle import Trigger
from webmagic_core.services.domains import DomainConfig, DomainService
from webmagic_core.sites import Actor, Site
from webmagic_core.testing import FakeClock
from webmagic_core.testing.domains import FakeCertificateProbe, FakeDnsResolver

CHECKERS = 4


def test_concurrent_checks_fail_a_domain_once_and_mail_once(database: Database) -> None:
    clock, dns = FakeClock(), FakeDnsResolver()
    service = DomainService(
        uow=domain_units_of_work(database),
        clock=clock,
        resolver=dns,
        probe=FakeCertificateProbe(),
        normalize=domain_normalizer(()),
        config=DomainConfig(
            cnames_to="sites.webmagic.test",
            grace=dt.timedelta(hours=168),
            site_url=lambda slug: f"https://sites.webmagic.test/{slug}",
            manage_url=lambda slug: f"https://app.webmagic.test/portal/sites/{slug}",
        ),
    )
    owner = Customer.new(email="rosa@example.com", now=clock.now())
    site = Site.new_preview(
        slug="bakery", business_name="Bakery", now=clock.now(), actor=Actor.ADMIN, cause="t"
    )
    site.apply(Trigger.PURCHASE_PAID, cause="t", actor=Actor.SYSTEM, at=clock.now())
    site.owner_id = owner.id
    with database.unit_of_work() as uow:
        uow.customers.add(owner)
        uow.sites.add(site)
        uow.commit()
    domain = service.attach(owner.id, "bakery", "shop.example")
    dns.set_txt(domain.challenge_name, domain.token)
    assert service.verify(owner.id, "bakery").status is DomainStatus.VERIFIED
    dns.clear(domain.challenge_name)

    barrier = threading.Barrier(CHECKERS)
    errors: list[BaseException] = []

    def checker() -> None:
        seen = service.due()
        barrier.wait()  # every checker has read the domain as verified
        try:
            for item in seen:
                service.check_one(item)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=checker) for _ in range(CHECKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert service.get(owner.id, "bakery").status is DomainStatus.FAILING
    with database.unit_of_work() as uow:
        mails = [m for m in uow.outbox.list() if m.message.template is EmailTemplate.DOMAIN_FAILING]
    assert len(mails) == 1
    history = service.history("shop.example").events
    assert [e.kind for e in history].count(DomainEventKind.FAILING) == 1
