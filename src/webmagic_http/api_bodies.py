"""JSON bodies that more than one route module answers with: a custom domain (its own
endpoints and the site detail), a changed file and a version (the edit endpoints and the
site's history), a subscription in short (its endpoints and the site detail).

Route modules share these from here, never from each other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from webmagic_core.domains.model import CustomDomain
from webmagic_core.services.domains import dns_records
from webmagic_core.services.subscriptions import SubscriptionView
from webmagic_core.site_diff import FileChange
from webmagic_core.sites import SiteVersion, SiteVersionSummary


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 with a UTC offset (docs/api.md), or None."""
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class RecordBody:
    type: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class CertificateBody:
    status: str  # unknown | valid | expiring | expired | mismatch
    not_after: str | None
    checked_at: str | None


@dataclass(frozen=True, slots=True)
class DomainBody:
    domain: str
    status: str  # pending | verified | failing | lapsed
    dns_records: list[RecordBody]
    verified_at: str | None
    last_checked_at: str | None
    grace_ends_at: str | None
    detail: str | None
    certificate: CertificateBody


def domain_body(domain: CustomDomain, cnames_to: str) -> DomainBody:
    cert = domain.certificate
    return DomainBody(
        domain=domain.domain,
        status=domain.status.value,
        dns_records=[RecordBody(r.type, r.name, r.value) for r in dns_records(domain, cnames_to)],
        verified_at=iso(domain.verified_at),
        last_checked_at=iso(domain.last_checked_at),
        grace_ends_at=iso(domain.grace_ends_at),
        detail=domain.detail,
        certificate=CertificateBody(cert.status.value, iso(cert.not_after), iso(cert.checked_at)),
    )


@dataclass(frozen=True, slots=True)
class FileDiffBody:
    name: str  # the file's path in the site
    change: str  # added | removed | changed
    binary: bool  # not text: no line counts, no unified diff, sizes only
    added: int  # lines
    removed: int
    unified_diff: str
    size_before: int | None  # bytes; null when the file was added
    size_after: int | None  # null when it was removed

    @classmethod
    def of(cls, f: FileChange) -> FileDiffBody:
        return cls(
            name=f.name,
            change=f.change.value,
            binary=f.binary,
            added=f.added,
            removed=f.removed,
            unified_diff=f.unified_diff,
            size_before=f.size_before,
            size_after=f.size_after,
        )


@dataclass(frozen=True, slots=True)
class VersionSummary:
    number: int
    created_at: str
    cause: str  # import | publish | edit | restore
    edit_id: str | None  # cause edit: the edit it came from
    restored_from: int | None  # cause restore: the version whose files it holds
    current: bool

    @classmethod
    def of(cls, version: SiteVersion | SiteVersionSummary, current: int) -> VersionSummary:
        return cls(
            number=version.number,
            created_at=version.created_at.astimezone(dt.UTC).isoformat(),
            cause=version.cause.value,
            edit_id=str(version.edit_id) if version.edit_id else None,
            restored_from=version.restored_from,
            current=version.number == current,
        )


@dataclass(frozen=True, slots=True)
class SubscriptionSummary:
    """A site's current subscription, in short (the site detail embeds it)."""

    id: str
    status: str  # pending | active | past_due | paused | cancelled | expired | unable_to_start
    current_period_end: str | None
    next_payment_attempt_at: str | None
    cancel_at_period_end: bool
    ends_at: str | None  # when a cancelled subscription takes (or took) the site offline

    @classmethod
    def of(cls, view: SubscriptionView) -> SubscriptionSummary:
        return cls(**cls.summary_fields(view))

    @staticmethod
    def summary_fields(view: SubscriptionView) -> dict[str, Any]:
        return {
            "id": str(view.subscription.id),
            "status": view.status.value,
            "current_period_end": iso(view.current_period_end),
            "next_payment_attempt_at": iso(view.next_payment_attempt_at),
            "cancel_at_period_end": view.cancel_at_period_end,
            "ends_at": iso(view.ends_at),
        }
