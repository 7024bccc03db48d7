"""The custom-domain section of the portal's site page, and its forms.

- ``POST /portal/sites/{slug}/domain`` (``domain``): set the name (or replace the one there is);
- ``POST .../domain/verify``: look the TXT record up now;
- ``POST .../domain/remove``: stop using the name (the page asks for a confirmation first).

Each mirrors the API's ``/api/v1/customer/sites/{slug}/domain`` and redirects back to the site
page with a one-line notice; a refusal of the core re-renders the page with its one line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import attrs
from litestar import Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from webmagic_core.accounts.customers import Customer
from webmagic_core.domains.model import CertificateStatus, CustomDomain, DomainStatus
from webmagic_core.errors import Conflict, NotFound, TransientError, ValidationError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.services.domains import DOMAIN_STATUSES, DomainService, dns_records
from webmagic_core.services.sites import SiteService
from webmagic_http.portal_words import day

SitePage = Callable[..., Template]

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


def domain_handlers(
    *,
    domains: DomainService,
    sites: SiteService,
    customer_of: Callable[[Request[Any, Any, Any]], Customer],
    site_page: SitePage,
    core_error_status: Callable[[Any], tuple[int, str]],
) -> list[HTTPRouteHandler]:
    def back(slug: str, notice: str) -> Redirect:
        return Redirect(f"/portal/sites/{slug}?notice={notice}", status_code=303)

    def refused(customer: Customer, slug: str, error: Any) -> Template:
        status, text = core_error_status(error)
        return site_page(customer, slug, status=status, error=text)

    @post("/sites/{slug:str}/domain", status_code=303)
    async def set_domain(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        name = str((await request.form()).get("domain", "")).strip()

        def run() -> Response[Any]:
            customer = customer_of(request)
            sites.owned_site(customer.id, slug)  # another owner's site: the 404 page, nothing else
            if not name:
                return site_page(
                    customer, slug, status=400, error="Enter the domain name, like www.example.com."
                )
            try:
                domains.attach(customer.id, slug, name)
            except (ValidationError, Conflict) as error:
                return refused(customer, slug, error)
            return back(slug, "domain_set")

        return await _offload(run)

    @post("/sites/{slug:str}/domain/verify", status_code=303, sync_to_thread=True)
    def verify_domain(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        customer = customer_of(request)
        sites.owned_site(customer.id, slug)
        try:
            domain = domains.verify(customer.id, slug)
        except (NotFound, Conflict, TransientError) as error:
            return refused(customer, slug, error)
        return back(slug, "domain_verified" if domain.served else "domain_not_verified")

    @post("/sites/{slug:str}/domain/remove", status_code=303, sync_to_thread=True)
    def remove_domain(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        customer = customer_of(request)
        sites.owned_site(customer.id, slug)
        try:
            domains.remove(customer.id, slug)
        except NotFound as error:
            return refused(customer, slug, error)
        return back(slug, "domain_removed")

    return [set_domain, verify_domain, remove_domain, copy_script]


async def _offload(fn: Callable[[], Response[Any]]) -> Response[Any]:
    return await anyio.to_thread.run_sync(fn)


COPY_SCRIPT = Path(__file__).parent / "static" / "portal-copy.js"


@get("/copy.js", sync_to_thread=False, cache_control=CacheControlHeader(max_age=3600, public=True))
def copy_script() -> Response[bytes]:
    """The copy buttons' script (the site page's only script), served by the app itself."""
    return Response(COPY_SCRIPT.read_bytes(), media_type="text/javascript")  # Litestar adds the charset
