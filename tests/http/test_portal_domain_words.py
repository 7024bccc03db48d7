"""What the portal says about a custom domain: its status (with the day a failing one lapses),
its certificate, what the last lookup found, and which forms it offers."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from webmagic_core.domains.model import CertificateStatus, CustomDomain, DomainStatus, Proof
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.sites import Actor, SiteVersionSummary, VersionCause
from webmagic_http.portal_domain_view import certificate_words, domain_section, domain_words
from webmagic_http.portal_versions import size_text
from webmagic_http.portal_versions_view import cause_words

T0 = dt.datetime(2026, 3, 5, 9, 30, tzinfo=dt.UTC)
GRACE = dt.timedelta(days=7)
NAME = "www.sunrise-bakery.example"


def domain(status: DomainStatus = DomainStatus.PENDING) -> CustomDomain:
    made = CustomDomain.new(site_id=uuid.uuid4(), domain=NAME, token="tok-123", now=T0)
    if status is DomainStatus.PENDING:
        return made
    made.record_proof(Proof.FOUND, "found", now=T0, grace=GRACE)
    if status is DomainStatus.VERIFIED:
        return made
    made.record_proof(Proof.ABSENT, "gone", now=T0 + dt.timedelta(days=1), grace=GRACE)
    if status is DomainStatus.FAILING:
        return made
    made.record_proof(Proof.ABSENT, "still gone", now=T0 + dt.timedelta(days=9), grace=GRACE)
    assert made.status is DomainStatus.LAPSED
    return made


def test_each_status_in_words() -> None:
    assert domain_words(domain()).label == "Waiting for verification"
    verified = domain_words(domain(DomainStatus.VERIFIED))
    assert (verified.label, verified.tone) == ("Verified", "ok")
    assert verified.text.startswith(f"Verified on March 5, 2026: {NAME} shows your site.")
    failing = domain_words(domain(DomainStatus.FAILING))
    assert (failing.label, failing.tone) == ("Failing", "warn")
    # The day it lapses: the check on March 6 plus seven days of grace.
    assert "Put it back before March 13, 2026" in failing.text
    lapsed = domain_words(domain(DomainStatus.LAPSED))
    assert (lapsed.label, lapsed.tone) == ("Lapsed", "off")
    assert "no longer shows your site" in lapsed.text


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (CertificateStatus.VALID, "Valid until June 1, 2026."),
        (CertificateStatus.EXPIRING, "Expires soon, on June 1, 2026."),
        (CertificateStatus.EXPIRED, "Expired on June 1, 2026"),
        (CertificateStatus.MISMATCH, f"The certificate served at {NAME} is not for this name."),
    ],
)
def test_the_certificate_in_words(status: CertificateStatus, words: str) -> None:
    seen = domain(DomainStatus.VERIFIED)
    seen.record_certificate(
        status=status, not_after=dt.datetime(2026, 6, 1, tzinfo=dt.UTC), fingerprint="ab", now=T0, detail=""
    )
    assert certificate_words(seen).startswith(words)


def test_an_unchecked_certificate_depends_on_whether_the_domain_is_served() -> None:
    assert certificate_words(domain()) == "Issued automatically once the domain is verified."
    assert certificate_words(domain(DomainStatus.VERIFIED)).startswith("Not checked yet")


def test_the_section_shows_what_the_last_lookup_found_only_while_not_served() -> None:
    pending = domain()
    assert domain_section(pending, "sites.example", SiteStatus.ACTIVE)["detail"] is None  # never looked up
    pending.record_proof(Proof.ABSENT, "No DNS record named x exists yet.", now=T0, grace=GRACE)
    section = domain_section(pending, "sites.example", SiteStatus.ACTIVE)
    assert section["detail"] == "No DNS record named x exists yet."
    assert section["checked_on"] == "March 5, 2026 at 09:30 UTC"
    assert section["records"] == [
        {"type": "TXT", "name": f"_webmagic-challenge.{NAME}", "value": "tok-123"},
        {"type": "CNAME", "name": NAME, "value": "sites.example"},
    ]
    assert domain_section(domain(DomainStatus.VERIFIED), "sites.example", SiteStatus.ACTIVE)["detail"] is None


@pytest.mark.parametrize(
    ("status", "site", "can_verify", "can_set"),
    [
        (DomainStatus.PENDING, SiteStatus.ACTIVE, True, True),
        (DomainStatus.FAILING, SiteStatus.PAST_DUE, True, True),
        (DomainStatus.LAPSED, SiteStatus.OWNED, True, True),
        (DomainStatus.VERIFIED, SiteStatus.ACTIVE, False, True),
        (DomainStatus.PENDING, SiteStatus.SUSPENDED, False, False),  # the core refuses: no button
    ],
)
def test_the_forms_offered(status: DomainStatus, site: SiteStatus, can_verify: bool, can_set: bool) -> None:
    section = domain_section(domain(status), "sites.example", site)
    assert (section["can_verify"], section["can_set"]) == (can_verify, can_set)


def test_a_site_without_a_domain_may_set_one_while_online() -> None:
    assert domain_section(None, "sites.example", SiteStatus.OWNED)["can_set"] is True
    assert domain_section(None, "sites.example", SiteStatus.SUSPENDED)["can_set"] is False


def test_causes_and_sizes_in_words() -> None:
    def summary(cause: VersionCause, note: str = "", restored_from: int | None = None) -> SiteVersionSummary:
        return SiteVersionSummary(2, T0, cause, Actor.ADMIN, note=note, restored_from=restored_from)

    assert cause_words(summary(VersionCause.IMPORT, "created from the CLI")) == "The website was set up"
    assert cause_words(summary(VersionCause.PUBLISH, "new opening hours")) == "New opening hours"
    assert cause_words(summary(VersionCause.PUBLISH, "  ")) == "A new version was published"
    assert (
        cause_words(summary(VersionCause.PUBLISH, "published from the CLI")) == "A new version was published"
    )
    assert cause_words(summary(VersionCause.EDIT, "Bigger title")) == "Your requested change: Bigger title"
    assert cause_words(summary(VersionCause.RESTORE, restored_from=1)) == "Version 1 was put back"
    assert [size_text(n) for n in (0, 1023, 1024, 1536, 3 * 1024 * 1024)] == [
        "0 bytes",
        "1023 bytes",
        "1.0 KB",
        "1.5 KB",
        "3.0 MB",
    ]
