"""`CustomDomain.record_certificate` on its own: every field a probe sets, the events it leaves
(kind, detail, time) and the expiry mail asked for once per certificate."""

from __future__ import annotations

import datetime as dt
import uuid

from webmagic_core.domains.model import CertificateStatus, CustomDomain, DomainEventKind, DomainStatus, Proof

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=6)


def domain() -> CustomDomain:
    made = CustomDomain.new(site_id=uuid.uuid4(), domain="casa-rosa.example", token="t0ken", now=NOW)
    made.pending_events.clear()
    return made


def test_a_probe_sets_every_certificate_field_and_records_the_change() -> None:
    d = domain()
    ends = NOW + dt.timedelta(days=60)
    assert not d.record_certificate(
        status=CertificateStatus.VALID, not_after=ends, fingerprint="fp1", now=LATER, detail="read"
    )
    c = d.certificate
    assert (c.status, c.not_after, c.checked_at, c.fingerprint, d.updated_at) == (
        CertificateStatus.VALID,
        ends,
        LATER,
        "fp1",
        LATER,
    )
    [event] = d.pending_events
    assert (event.kind, event.detail, event.at) == (
        DomainEventKind.CERTIFICATE,
        "unknown -> valid: read",
        LATER,
    )


def test_an_unchanged_status_records_nothing_and_no_fingerprint_keeps_the_last() -> None:
    d = domain()
    d.record_certificate(
        status=CertificateStatus.VALID, not_after=None, fingerprint="fp1", now=NOW, detail="a"
    )
    d.pending_events.clear()
    d.record_certificate(
        status=CertificateStatus.VALID, not_after=None, fingerprint=None, now=LATER, detail="b"
    )
    assert d.pending_events == []
    assert (d.certificate.fingerprint, d.certificate.not_after, d.certificate.checked_at) == (
        "fp1",
        None,
        LATER,
    )


def test_an_expiring_certificate_asks_for_one_mail_per_certificate() -> None:
    d = domain()
    ends = NOW + dt.timedelta(days=5)
    assert d.record_certificate(
        status=CertificateStatus.EXPIRING, not_after=ends, fingerprint="fp1", now=NOW, detail="5 days left"
    )
    assert d.certificate.expiry_mailed_for == "fp1"
    assert [(e.kind, e.detail, e.at) for e in d.pending_events] == [
        (DomainEventKind.CERTIFICATE, "unknown -> expiring: 5 days left", NOW),
        (DomainEventKind.CERTIFICATE_EXPIRING, "5 days left", NOW),
    ]
    assert not d.record_certificate(
        status=CertificateStatus.EXPIRING, not_after=ends, fingerprint="fp1", now=LATER, detail="again"
    )
    assert d.record_certificate(
        status=CertificateStatus.EXPIRING,
        not_after=ends,
        fingerprint="fp2",
        now=LATER,
        detail="renewed badly",
    )


def test_expiring_without_a_fingerprint_asks_for_no_mail() -> None:
    d = domain()
    assert not d.record_certificate(
        status=CertificateStatus.EXPIRING, not_after=None, fingerprint=None, now=NOW, detail="?"
    )
    assert d.certificate.expiry_mailed_for is None
    assert [e.kind for e in d.pending_events] == [DomainEventKind.CERTIFICATE]


GRACE = dt.timedelta(days=3)


def test_a_lookup_stamps_the_domain_and_records_what_it_found() -> None:
    d = domain()
    assert d.record_proof(Proof.FOUND, "the token is there", now=LATER, grace=GRACE) is DomainStatus.VERIFIED
    assert (d.last_checked_at, d.updated_at, d.detail, d.verified_at) == (
        LATER,
        LATER,
        "the token is there",
        LATER,
    )
    assert [(e.kind, e.detail, e.at) for e in d.pending_events] == [
        (DomainEventKind.CHECKED, "found: the token is there", LATER),
        (DomainEventKind.VERIFIED, "pending -> verified", LATER),
    ]
    assert len({e.id for e in d.pending_events}) == 2


def test_a_lapse_clears_the_grace_and_forgets_the_certificate_but_a_failure_keeps_it() -> None:
    d = domain()
    d.record_proof(Proof.FOUND, "ok", now=NOW, grace=GRACE)
    d.record_certificate(
        status=CertificateStatus.VALID, not_after=LATER, fingerprint="fp1", now=NOW, detail="r"
    )
    assert d.record_proof(Proof.ABSENT, "gone", now=NOW, grace=GRACE) is DomainStatus.FAILING
    assert d.grace_ends_at == NOW + GRACE
    assert d.certificate.fingerprint == "fp1"  # still served during the grace
    assert d.record_proof(Proof.ABSENT, "gone", now=NOW + GRACE, grace=GRACE) is DomainStatus.LAPSED
    assert d.grace_ends_at is None
    assert d.certificate.fingerprint is None
    d.record_proof(Proof.FOUND, "back", now=NOW + 2 * GRACE, grace=GRACE)
    assert d.grace_ends_at is None
