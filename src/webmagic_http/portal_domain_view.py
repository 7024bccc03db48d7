"""The custom-domain section of the portal's site page (``portal/site/domain.html``): the
domain's status, its DNS records and its certificate in words. No routes: the site page
(``portal_owner``) embeds it, the forms live in ``portal_domain``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from webmagic_core.domains.model import CertificateStatus, CustomDomain, DomainStatus
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.services.domains import DOMAIN_STATUSES, dns_records
from webmagic_http.portal_words import day

DOMAIN_NOTICES = {
    "domain_set": "The domain is saved. Create the two DNS records shown, then verify.",
    "domain_verified": "The domain is verified: it now shows your site.",
    "domain_not_verified": "The domain is not verified yet: see what was found under Custom domain.",
    "domain_removed": "The domain is removed: it no longer shows your site.",
}


@attrs.frozen
class DomainWords:
    """A domain's status for the page: a label, its tone (ok, warn, off) and one sentence."""

    label: str
    tone: str
    text: str


def domain_words(domain: CustomDomain) -> DomainWords:
    match domain.status:
        case DomainStatus.PENDING:
            return DomainWords(
                "Waiting for verification",
                "warn",
                "Create the two records below at the company that manages your domain's DNS, then "
                "press Verify. DNS changes can take from a few minutes to a few hours to appear.",
            )
        case DomainStatus.VERIFIED:
            return DomainWords(
                "Verified",
                "ok",
                f"Verified on {day(domain.verified_at)}: {domain.domain} shows your site. Keep both "
                "records in place; we check them regularly.",
            )
        case DomainStatus.FAILING:
            return DomainWords(
                "Failing",
                "warn",
                f"The TXT record can no longer be found. Put it back before {day(domain.grace_ends_at)}, "
                f"or {domain.domain} stops showing your site on that day.",
            )
        case DomainStatus.LAPSED:
            return DomainWords(
                "Lapsed",
                "off",
                f"The TXT record was missing for too long: {domain.domain} no longer shows your site. "
                "Put the record back, then verify again.",
            )


def certificate_words(domain: CustomDomain) -> str:
    cert = domain.certificate
    match cert.status:
        case CertificateStatus.VALID:
            return f"Valid until {day(cert.not_after)}."
        case CertificateStatus.EXPIRING:
            return f"Expires soon, on {day(cert.not_after)}. It is renewed automatically; we are watching it."
        case CertificateStatus.EXPIRED:
            return f"Expired on {day(cert.not_after)}: visitors see a security warning. We have been alerted."
        case CertificateStatus.MISMATCH:
            return (
                f"The certificate served at {domain.domain} is not for this name. Check that the CNAME "
                "record is the one shown above."
            )
        case CertificateStatus.UNKNOWN:
            if domain.served:
                return "Not checked yet: it is issued on the first secure visit, within a few minutes."
            return "Issued automatically once the domain is verified."


def domain_section(domain: CustomDomain | None, cnames_to: str, site_status: SiteStatus) -> dict[str, Any]:
    """The context of ``portal/site/domain.html``."""
    if domain is None:
        return {"domain": None, "can_set": site_status in DOMAIN_STATUSES, "cnames_to": cnames_to}
    words = domain_words(domain)
    return {
        "domain": domain.domain,
        "can_set": site_status in DOMAIN_STATUSES,
        "cnames_to": cnames_to,
        "status": domain.status.value,
        "label": words.label,
        "tone": words.tone,
        "text": words.text,
        # What the last lookup found, when it says more than the status does.
        "detail": domain.detail if domain.last_checked_at is not None and not domain.served else None,
        "checked_on": _moment(domain.last_checked_at),
        "records": [
            {"type": r.type, "name": r.name, "value": r.value} for r in dns_records(domain, cnames_to)
        ],
        "certificate": certificate_words(domain),
        "can_verify": domain.status is not DomainStatus.VERIFIED and site_status in DOMAIN_STATUSES,
    }


def _moment(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return f"{day(value)} at {value.astimezone(dt.UTC):%H:%M} UTC"
