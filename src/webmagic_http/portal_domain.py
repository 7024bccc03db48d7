"""The forms of the custom-domain section of the portal's site page (``portal_domain_view``).

- ``POST /portal/sites/{slug}/domain`` (``domain``): set the name (or replace the one there is);
- ``POST .../domain/verify``: look the TXT record up now;
- ``POST .../domain/remove``: stop using the name (the page asks for a confirmation first).

Each mirrors the API's ``/api/v1/customer/sites/{slug}/domain`` and redirects back to the site
page with a one-line notice; a refusal of the core re-renders the page with its one line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import Conflict, NotFound, TransientError, ValidationError
from webmagic_core.services.domains import DomainService
from webmagic_core.services.sites import SiteService

SitePage = Callable[..., Template]


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
