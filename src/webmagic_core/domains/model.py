"""A site's custom domain: the DNS proof of control, its re-verification, and the
certificate seen on it.

Lifecycle (``CustomDomain.record_proof``)::

    pending  --token found-->            verified
    verified --record gone-->            failing   (grace_ends_at = now + grace; owner mailed)
    failing  --token found-->            verified
    failing  --still gone, grace over--> lapsed    (owner mailed; no longer served)
    lapsed   --token found (owner)-->    verified

Only ``verified`` and ``failing`` domains are served and may get certificates. An answer
that proves nothing either way (a timeout, SERVFAIL) never starts a grace period -- a
resolver outage on our side must not mail every owner -- but it does not extend one
either: a failing domain whose grace is over lapses whatever the lookup says, because a
name that cannot be shown to be under its owner's control must stop pointing at the site.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import attrs

CHALLENGE_LABEL = "_webmagic-challenge"
# Certificates with less than this left are "expiring" (owner and admin mailed once).
EXPIRING_WITHIN = dt.timedelta(days=14)


class DomainStatus(enum.StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILING = "failing"
    LAPSED = "lapsed"


# The statuses whose domain serves its site and may be given a certificate.
SERVED_STATUSES = frozenset({DomainStatus.VERIFIED, DomainStatus.FAILING})


class CertificateStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    MISMATCH = "mismatch"


class Proof(enum.Enum):
    """What one TXT lookup says about the proof of control."""

    FOUND = "found"  # a record holds the token
    ABSENT = "absent"  # the DNS answered: no such record, or none with the token
    INCONCLUSIVE = "inconclusive"  # no usable answer (timeout, SERVFAIL): proves nothing


class DomainEventKind(enum.StrEnum):
    ATTACHED = "attached"
    CHECKED = "checked"  # one DNS lookup (the history of checks)
    VERIFIED = "verified"
    FAILING = "failing"
    LAPSED = "lapsed"
    CERTIFICATE = "certificate"  # the certificate's status changed
    CERTIFICATE_EXPIRING = "certificate_expiring"  # owner and admin mailed
    REMOVED = "removed"


@attrs.frozen
class DomainEvent:
    """One line of a domain's history. Kept after the domain is removed (by name and site)."""

    id: uuid.UUID
    site_id: uuid.UUID
    domain: str
    kind: DomainEventKind
    detail: str
    at: dt.datetime


@attrs.define
class Certificate:
    status: CertificateStatus = CertificateStatus.UNKNOWN
    not_after: dt.datetime | None = None
    checked_at: dt.datetime | None = None
    # SHA-256 of the certificate seen last, and of the one the expiry mail went out for.
    fingerprint: str | None = None
    expiry_mailed_for: str | None = None


def certificate_status(*, matches: bool, not_after: dt.datetime, now: dt.datetime) -> CertificateStatus:
    if not matches:
        return CertificateStatus.MISMATCH
    if not_after <= now:
        return CertificateStatus.EXPIRED
    if not_after - now < EXPIRING_WITHIN:
        return CertificateStatus.EXPIRING
    return CertificateStatus.VALID


@attrs.define
class CustomDomain:
    id: uuid.UUID
    site_id: uuid.UUID
    domain: str  # normalised: lower case, IDNA A-labels, no trailing dot
    token: str  # the TXT value proving control; random, never reused
    status: DomainStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    verified_at: dt.datetime | None = None
    last_checked_at: dt.datetime | None = None
    grace_ends_at: dt.datetime | None = None
    detail: str | None = None
    certificate: Certificate = attrs.field(factory=Certificate)
    pending_events: list[DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    @classmethod
    def new(cls, *, site_id: uuid.UUID, domain: str, token: str, now: dt.datetime) -> CustomDomain:
        created = cls(
            id=uuid.uuid4(),
            site_id=site_id,
            domain=domain,
            token=token,
            status=DomainStatus.PENDING,
            created_at=now,
            updated_at=now,
            detail="Waiting for the DNS records to be created, then for a verification.",
        )
        created.record(DomainEventKind.ATTACHED, "attached; waiting for DNS proof of control", now)
        return created

    @property
    def challenge_name(self) -> str:
        return f"{CHALLENGE_LABEL}.{self.domain}"

    @property
    def served(self) -> bool:
        return self.status in SERVED_STATUSES

    def record(self, kind: DomainEventKind, detail: str, at: dt.datetime) -> None:
        self.pending_events.append(
            DomainEvent(
                id=uuid.uuid4(), site_id=self.site_id, domain=self.domain, kind=kind, detail=detail, at=at
            )
        )

    def record_proof(
        self, proof: Proof, detail: str, *, now: dt.datetime, grace: dt.timedelta
    ) -> DomainStatus | None:
        """Apply one lookup's outcome; returns the new status when it changed."""
        before = self.status
        self.last_checked_at = now
        self.updated_at = now
        self.detail = detail
        self.record(DomainEventKind.CHECKED, f"{proof.value}: {detail}", now)
        if proof is Proof.FOUND:
            if before is not DomainStatus.VERIFIED:
                self.status = DomainStatus.VERIFIED
                self.verified_at = now
            self.grace_ends_at = None
        elif before is DomainStatus.VERIFIED and proof is Proof.ABSENT:
            self.status = DomainStatus.FAILING
            self.grace_ends_at = now + grace
        elif before is DomainStatus.FAILING and self.grace_ends_at is not None and now >= self.grace_ends_at:
            self.status = DomainStatus.LAPSED
            self.grace_ends_at = None
        if self.status is before:
            return None
        self.record(DomainEventKind(self.status.value), f"{before.value} -> {self.status.value}", now)
        if self.status is DomainStatus.LAPSED:
            self.certificate = Certificate()  # no longer ours to watch
        return self.status

    def record_certificate(
        self,
        *,
        status: CertificateStatus,
        not_after: dt.datetime | None,
        fingerprint: str | None,
        now: dt.datetime,
        detail: str,
    ) -> bool:
        """Store a probe's outcome; True when the owner and admin should be mailed about
        an expiring certificate (once per certificate)."""
        before = self.certificate.status
        self.certificate.status = status
        self.certificate.not_after = not_after
        self.certificate.checked_at = now
        if fingerprint is not None:
            self.certificate.fingerprint = fingerprint
        self.updated_at = now
        if status is not before:
            self.record(DomainEventKind.CERTIFICATE, f"{before.value} -> {status.value}: {detail}", now)
        expiring = status is CertificateStatus.EXPIRING and fingerprint is not None
        if expiring and self.certificate.expiry_mailed_for != fingerprint:
            self.certificate.expiry_mailed_for = fingerprint
            self.record(DomainEventKind.CERTIFICATE_EXPIRING, detail, now)
            return True
        return False
