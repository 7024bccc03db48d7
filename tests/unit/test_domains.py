"""The custom-domain service against fakes: attach/verify/remove, re-verification with
grace and lapse (mails), certificates, and a state machine over an injected clock."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from webmagic_adapters.domain_names import domain_normalizer
from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.domains.model import CertificateStatus, DomainStatus
from webmagic_core.domains.ports import SeenCertificate
from webmagic_core.errors import Conflict, NotFound, ValidationError
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.services.domains import NO_DOMAIN, DomainConfig, DomainService
from webmagic_core.sites import Actor, Site
from webmagic_core.testing import FakeClock
from webmagic_core.testing.domains import (
    FakeCertificateProbe,
    FakeDnsResolver,
    FakeDomainUnitOfWorkFactory,
    FakeHostDirectory,
)

GRACE = dt.timedelta(hours=168)
NAME = "shop.example"
CHALLENGE = "_webmagic-challenge.shop.example"
ADMIN = "ops@webmagic.test"


class World:
    def __init__(self, grace: dt.timedelta = GRACE) -> None:
        self.clock = FakeClock()
        self.uow = FakeDomainUnitOfWorkFactory()
        self.dns = FakeDnsResolver()
        self.probe = FakeCertificateProbe()
        self.service = DomainService(
            uow=self.uow,
            clock=self.clock,
            resolver=self.dns,
            probe=self.probe,
            normalize=domain_normalizer({"sites.webmagic.test"}),
            config=DomainConfig(
                cnames_to="sites.webmagic.test",
                grace=grace,
                site_url=lambda slug: f"https://sites.webmagic.test/{slug}",
                manage_url=lambda slug: f"https://app.webmagic.test/portal/sites/{slug}",
                admin_email=ADMIN,
            ),
            directory=FakeHostDirectory(self.uow),
        )
        self.owner = Customer.new(email="rosa@example.com", password_hash="x", now=self.clock.now())
        self.site = self.add_site("sunrise-bakery", self.owner)

    def add_site(self, slug: str, owner: Customer, status: SiteStatus = SiteStatus.OWNED) -> Site:
        site = Site.new_preview(
            slug=slug, business_name="Sunrise Bakery", now=self.clock.now(), actor=Actor.ADMIN, cause="t"
        )
        site.apply(Trigger.PURCHASE_PAID, cause="t", actor=Actor.SYSTEM, at=self.clock.now())
        site.owner_id = owner.id
        with self.uow() as uow:
            if uow.customers.get(owner.id) is None:
                uow.customers.add(owner)
            uow.sites.add(site)
            uow.commit()
        return site

    def attach(self, name: str = NAME) -> str:
        domain = self.service.attach(self.owner.id, self.site.slug, name)
        return domain.token

    def publish(self, token: str) -> None:
        self.dns.set_txt(CHALLENGE, token)

    def status(self) -> DomainStatus:
        return self.service.get(self.owner.id, self.site.slug).status

    def mails(self, template: EmailTemplate) -> list[str]:
        with self.uow() as uow:
            return [m.message.to for m in uow.outbox.list(limit=1000) if m.message.template is template]


def test_verify_needs_the_exact_token_among_the_records() -> None:
    world = World()
    token = world.attach()
    world.dns.set_txt(CHALLENGE, "v=spf1 -all", token[:-1], f"x{token}", f"{token} other")
    assert world.service.verify(world.owner.id, world.site.slug).status is DomainStatus.PENDING
    world.dns.set_txt(CHALLENGE, "v=spf1 -all", f" {token} ")
    verified = world.service.verify(world.owner.id, world.site.slug)
    assert verified.status is DomainStatus.VERIFIED
    assert verified.verified_at == world.clock.now()


def test_tokens_are_random_and_unique_per_site_and_domain() -> None:
    world = World()
    tokens = {world.attach(f"n{i}.example") for i in range(20)}
    assert len(tokens) == 20
    assert all(len(token) >= 43 for token in tokens)  # 256 bits, URL-safe base64


def test_a_lost_record_goes_failing_then_lapsed_after_the_grace_and_mails_the_owner() -> None:
    world = World()
    world.publish(world.attach())
    world.service.verify(world.owner.id, world.site.slug)
    world.dns.clear(CHALLENGE)

    world.service.check()
    domain = world.service.get(world.owner.id, world.site.slug)
    assert domain.status is DomainStatus.FAILING
    assert domain.grace_ends_at == world.clock.now() + GRACE
    assert world.mails(EmailTemplate.DOMAIN_FAILING) == ["rosa@example.com"]
    assert world.service.may_have_certificate(NAME)  # still served during the grace

    world.clock.advance(GRACE - dt.timedelta(seconds=1))
    world.service.check()
    assert world.status() is DomainStatus.FAILING
    assert world.mails(EmailTemplate.DOMAIN_FAILING) == ["rosa@example.com"]  # mailed once

    world.clock.advance(dt.timedelta(seconds=1))
    world.service.check()
    assert world.status() is DomainStatus.LAPSED
    assert world.mails(EmailTemplate.DOMAIN_LAPSED) == ["rosa@example.com"]
    assert not world.service.may_have_certificate(NAME)
    assert world.service.directory is not None
    assert world.service.directory.head_by_host(NAME) is None


def test_grace_zero_lapses_at_the_next_check() -> None:
    world = World(grace=dt.timedelta(0))
    world.publish(world.attach())
    world.service.verify(world.owner.id, world.site.slug)
    world.dns.clear(CHALLENGE)
    world.service.check()
    assert world.status() is DomainStatus.FAILING
    world.service.check()
    assert world.status() is DomainStatus.LAPSED


def test_a_record_back_during_the_grace_verifies_again() -> None:
    world = World()
    token = world.attach()
    world.publish(token)
    world.service.verify(world.owner.id, world.site.slug)
    world.dns.clear(CHALLENGE)
    world.service.check()
    world.publish(token)
    world.clock.advance(dt.timedelta(hours=1))
    world.service.check()
    domain = world.service.get(world.owner.id, world.site.slug)
    assert domain.status is DomainStatus.VERIFIED
    assert domain.grace_ends_at is None


def test_a_lapsed_domain_is_not_rechecked_but_the_owner_can_verify_again() -> None:
    world = World(grace=dt.timedelta(0))
    token = world.attach()
    world.publish(token)
    world.service.verify(world.owner.id, world.site.slug)
    world.dns.clear(CHALLENGE)
    world.service.check()
    world.service.check()
    world.publish(token)
    assert world.service.check().checked == 0
    assert world.status() is DomainStatus.LAPSED
    assert world.service.verify(world.owner.id, world.site.slug).status is DomainStatus.VERIFIED


def test_an_inconclusive_lookup_neither_starts_nor_extends_a_grace() -> None:
    world = World()
    world.publish(world.attach())
    world.service.verify(world.owner.id, world.site.slug)
    world.dns.timeout.add(CHALLENGE)
    world.service.check()
    assert world.status() is DomainStatus.VERIFIED
    assert world.mails(EmailTemplate.DOMAIN_FAILING) == []

    world.dns.timeout.clear()
    world.dns.clear(CHALLENGE)
    world.service.check()
    world.dns.servfail.add(CHALLENGE)
    world.clock.advance(GRACE)
    world.service.check()
    assert world.status() is DomainStatus.LAPSED


def test_a_name_held_by_another_site_is_a_conflict_and_nothing_changes() -> None:
    world = World()
    world.attach()
    other = Customer.new(email="ana@example.com", password_hash="x", now=world.clock.now())
    taken = world.add_site("ana-tacos", other)
    with pytest.raises(Conflict):
        world.service.attach(other.id, taken.slug, "SHOP.example.")
    with pytest.raises(NotFound):
        world.service.get(other.id, taken.slug)


def test_bad_names_are_validation_errors() -> None:
    world = World()
    with pytest.raises(ValidationError):
        world.attach("sites.webmagic.test")


def test_only_owned_active_and_past_due_sites_take_a_domain() -> None:
    world = World()
    with world.uow() as uow:
        site = uow.sites.get_by_slug(world.site.slug)
        assert site is not None
        site.apply(Trigger.HOSTING_EXPIRED, cause="t", actor=Actor.SYSTEM, at=world.clock.now())
        uow.sites.save(site)
        uow.commit()
    with pytest.raises(Conflict, match="suspended"):
        world.attach()


def test_verify_of_a_domain_replaced_meanwhile_changes_nothing() -> None:
    world = World()
    world.attach("one.example")
    stale = world.service.get(world.owner.id, world.site.slug)
    world.attach("two.example")
    assert world.service.check_one(stale) is None
    assert world.status() is DomainStatus.PENDING


def cert(world: World, days: float, *, matches: bool = True, fingerprint: str = "f1") -> None:
    world.probe.certificates[NAME] = SeenCertificate(
        not_after=world.clock.now() + dt.timedelta(days=days), matches=matches, fingerprint=fingerprint
    )


@pytest.mark.parametrize(
    ("days", "matches", "expected"),
    [
        (60, True, CertificateStatus.VALID),
        (14, True, CertificateStatus.VALID),
        (13.9, True, CertificateStatus.EXPIRING),
        (0, True, CertificateStatus.EXPIRED),
        (-1, True, CertificateStatus.EXPIRED),
        (60, False, CertificateStatus.MISMATCH),
    ],
)
def test_certificate_status(days: float, matches: bool, expected: CertificateStatus) -> None:
    world = World()
    world.publish(world.attach())
    world.service.verify(world.owner.id, world.site.slug)
    cert(world, days, matches=matches)
    world.service.check()
    assert world.service.get(world.owner.id, world.site.slug).certificate.status is expected


def test_an_expiring_certificate_mails_owner_and_admin_once_per_certificate() -> None:
    world = World()
    world.publish(world.attach())
    world.service.verify(world.owner.id, world.site.slug)
    cert(world, 10)
    world.service.check()
    world.service.check()
    assert sorted(world.mails(EmailTemplate.CERTIFICATE_EXPIRING)) == [ADMIN, "rosa@example.com"]
    cert(world, 9, fingerprint="f2")  # another certificate, still expiring
    world.service.check()
    assert len(world.mails(EmailTemplate.CERTIFICATE_EXPIRING)) == 4


def test_no_certificate_answer_is_unknown() -> None:
    world = World()
    world.publish(world.attach())
    world.service.verify(world.owner.id, world.site.slug)
    world.service.check()
    domain = world.service.get(world.owner.id, world.site.slug)
    assert domain.certificate.status is CertificateStatus.UNKNOWN
    assert domain.certificate.checked_at == world.clock.now()


def test_a_pending_domain_is_never_probed() -> None:
    world = World()
    world.attach()
    world.service.check()
    assert world.probe.probed == []


def test_the_timeline_holds_the_domain_events_without_routine_checks() -> None:
    world = World()
    world.publish(world.attach())
    world.service.verify(world.owner.id, world.site.slug)
    world.service.check()
    summaries = [entry.summary for entry in world.service.timeline(world.site.id)]
    assert [s.split(":")[1].split("(")[0].strip() for s in summaries] == ["attached", "verified"]


class DomainMachine(RuleBasedStateMachine):
    """Random record changes, checks, owner verifications and clock moves; the model says
    what the status must be after each step."""

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.token = self.world.attach()
        self.published = False
        self.model = DomainStatus.PENDING
        self.grace_ends: dt.datetime | None = None

    @rule()
    def publish(self) -> None:
        self.world.publish(self.token)
        self.published = True

    @rule()
    def withdraw(self) -> None:
        self.world.dns.clear(CHALLENGE)
        self.published = False

    @rule(hours=st.integers(min_value=0, max_value=400))
    def wait(self, hours: int) -> None:
        self.world.clock.advance(dt.timedelta(hours=hours))

    def _expect_check(self) -> None:
        now = self.world.clock.now()
        if self.published:
            self.model, self.grace_ends = DomainStatus.VERIFIED, None
        elif self.model is DomainStatus.VERIFIED:
            self.model, self.grace_ends = DomainStatus.FAILING, now + GRACE
        elif self.model is DomainStatus.FAILING and self.grace_ends is not None and now >= self.grace_ends:
            self.model, self.grace_ends = DomainStatus.LAPSED, None

    @rule()
    def periodic_check(self) -> None:
        if self.model in (DomainStatus.VERIFIED, DomainStatus.FAILING):
            self._expect_check()
        self.world.service.check()

    @rule()
    def owner_verifies(self) -> None:
        self._expect_check()
        self.world.service.verify(self.world.owner.id, self.world.site.slug)

    @invariant()
    def status_matches_the_model(self) -> None:
        domain = self.world.service.get(self.world.owner.id, self.world.site.slug)
        assert domain.status is self.model
        assert domain.grace_ends_at == self.grace_ends
        served = self.model in (DomainStatus.VERIFIED, DomainStatus.FAILING)
        assert self.world.service.may_have_certificate(NAME) is served


TestDomainMachine = DomainMachine.TestCase
TestDomainMachine.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)


def test_owner_mail_for_failing_names_the_record() -> None:
    world = World()
    token = world.attach()
    world.publish(token)
    world.service.verify(world.owner.id, world.site.slug)
    world.dns.clear(CHALLENGE)
    world.service.check()
    with world.uow() as uow:
        [item] = [m for m in uow.outbox.list() if m.message.template is EmailTemplate.DOMAIN_FAILING]
    assert item.data is not None  # queued as data
    assert CHALLENGE in item.data.values()
    message = item.render(JinjaEmailRenderer())  # as the relay will send it
    assert message.id == item.id
    assert CHALLENGE in message.text
    assert token in message.text
    assert NAME in message.subject
    assert message.site_id == world.site.id
    assert uuid.UUID(str(message.id))


# --- exact sentences and counts (what mutation testing found unchecked) ------------------------


def test_every_dns_answer_gets_its_exact_sentence() -> None:
    from webmagic_core.domains.model import Proof
    from webmagic_core.domains.ports import TxtAnswer, TxtLookup
    from webmagic_core.services.domains import judge

    name, token = "_c.shop.example", "tok"

    def said(answer: TxtAnswer, *records: str) -> tuple[Proof, str]:
        return judge(TxtLookup(answer, records), name, token)

    assert said(TxtAnswer.ANSWER, "x", " tok ") == (
        Proof.FOUND,
        "The TXT record _c.shop.example holds the verification value.",
    )
    assert said(TxtAnswer.ANSWER, "a") == (
        Proof.ABSENT,
        "Found 1 TXT record at _c.shop.example ('a'), but none holds the verification value shown "
        "in the DNS records; correct it and verify again.",
    )
    assert said(TxtAnswer.ANSWER, "a", "b", "c")[1].startswith(
        "Found 3 TXT records at _c.shop.example ('a', 'b', 'c'), but none"
    )
    long = "v" * 80
    assert said(TxtAnswer.ANSWER, "a", "b", "c", long)[1].startswith(
        "Found 4 TXT records at _c.shop.example ('a', 'b', 'c' ...), but none"
    )
    assert f"'{'v' * 59}…'" in said(TxtAnswer.ANSWER, long)[1]
    assert said(TxtAnswer.NXDOMAIN) == (
        Proof.ABSENT,
        "No DNS record named _c.shop.example exists yet. Create the TXT record shown (DNS changes "
        "can take a while to appear), then verify again.",
    )
    assert said(TxtAnswer.NO_ANSWER) == (
        Proof.ABSENT,
        "The name _c.shop.example exists but has no TXT record. Add the TXT record shown, then verify again.",
    )
    assert said(TxtAnswer.TIMEOUT) == (
        Proof.INCONCLUSIVE,
        "The DNS servers did not answer in time when we looked up _c.shop.example. "
        "This is usually temporary; try again in a few minutes.",
    )
    assert said(TxtAnswer.SERVFAIL) == (
        Proof.INCONCLUSIVE,
        "The DNS servers failed to answer for _c.shop.example (SERVFAIL). This often means a "
        "misconfiguration at the DNS provider (nameservers or DNSSEC); check it, then verify again.",
    )


def test_an_attached_domain_starts_pending_with_its_first_event() -> None:
    world = World()
    world.clock.advance(dt.timedelta(minutes=3))
    domain = world.service.attach(world.owner.id, world.site.slug, NAME)
    assert (domain.status, domain.created_at, domain.updated_at) == (
        DomainStatus.PENDING,
        world.clock.now(),
        world.clock.now(),
    )
    assert domain.detail == "Waiting for the DNS records to be created, then for a verification."
    assert isinstance(domain.id, uuid.UUID)
    history = world.service.history(NAME)
    first = history.events[0]
    assert (first.detail, first.domain, first.at) == (
        "attached; waiting for DNS proof of control",
        NAME,
        world.clock.now(),
    )


def test_a_check_round_counts_each_outcome_once() -> None:
    world = World()
    world.publish(world.attach())
    world.service.verify(world.owner.id, world.site.slug)
    other_owner = Customer.new(email="ana@example.com", password_hash="x", now=world.clock.now())
    world.add_site("north", other_owner)
    world.service.attach(other_owner.id, "north", "north.example")
    north_token = world.service.get(other_owner.id, "north").token
    world.dns.set_txt("_webmagic-challenge.north.example", north_token)
    world.service.verify(other_owner.id, "north")

    report = world.service.check()
    counts = (report.checked, report.verified, report.failing, report.lapsed, report.inconclusive)
    assert counts == (2, 2, 0, 0, 0)
    assert sum(report.certificates.values()) == 2
    assert set(report.certificates) <= {s.value for s in CertificateStatus}

    world.dns.clear(CHALLENGE)
    world.dns.timeout.add("_webmagic-challenge.north.example")
    report = world.service.check()
    assert (report.checked, report.verified, report.failing, report.inconclusive) == (2, 1, 1, 1)
    assert sum(report.certificates.values()) == 2

    world.clock.advance(GRACE)
    report = world.service.check()
    assert (report.checked, report.lapsed, report.inconclusive, report.verified) == (2, 1, 1, 1)
    assert sum(report.certificates.values()) == 1  # a lapsed domain is not served


def test_verify_refusals_are_exact() -> None:
    world = World()
    with pytest.raises(NotFound) as missing:
        world.service.verify(world.owner.id, world.site.slug)
    assert str(missing.value) == NO_DOMAIN
