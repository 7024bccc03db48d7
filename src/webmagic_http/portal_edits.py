"""The forms of the edit requests section of the portal's site page (ask, approve, reject;
the section itself is ``portal_edits_view``) and putting an earlier version back
(``/portal/sites/{slug}/versions/{number}/restore``).

Every form posts, then redirects back to the site page with a one-line notice
(post/redirect/get); a refusal of the core (a suspended site, a stale draft, this month's
requests used up) shows the page again with its one line and the matching status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

import anyio.to_thread
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import Conflict, NotFound, Throttled, ValidationError
from webmagic_core.services.edits import EditService
from webmagic_core.services.sites import SiteService


class SitePage(Protocol):
    def __call__(
        self,
        customer: Customer,
        slug: str,
        *,
        status: int = 200,
        notice: str | None = None,
        error: str | None = None,
    ) -> Template: ...


def edit_handlers(
    *,
    edits: EditService,
    sites: SiteService,
    customer_of: Callable[[Request[Any, Any, Any]], Customer],
    site_page: SitePage,
    core_error_status: Callable[[Any], tuple[int, str]],
) -> list[HTTPRouteHandler]:
    def back(slug: str, notice: str, anchor: str) -> Redirect:
        return Redirect(f"/portal/sites/{slug}?notice={notice}#{anchor}", status_code=303)

    def refused(customer: Customer, slug: str, error: Any) -> Template:
        status, text = core_error_status(error)
        return site_page(customer, slug, status=status, error=text)

    @post("/sites/{slug:str}/edits", status_code=303)
    async def ask(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        text = str((await request.form()).get("instructions", ""))

        def run() -> Response[Any]:
            customer = customer_of(request)
            sites.owned_site(customer.id, slug)  # another owner's site: the 404 page, nothing else
            try:
                edits.request(customer.id, slug, text)
            except (ValidationError, Conflict, Throttled) as error:
                return refused(customer, slug, error)
            return back(slug, "edit_asked", "edits")

        return await anyio.to_thread.run_sync(run)

    def decide(action: str) -> Callable[..., Response[Any]]:
        def handler(
            request: Request[Any, Any, Any], slug: FromPath[str], edit_id: FromPath[uuid.UUID]
        ) -> Response[Any]:
            customer = customer_of(request)
            sites.owned_site(customer.id, slug)
            try:
                if action == "approve":
                    edits.approve(customer.id, slug, edit_id)
                else:
                    edits.reject(customer.id, slug, edit_id)
            except (NotFound, Conflict) as error:
                return refused(customer, slug, error)
            return back(slug, "edit_applied" if action == "approve" else "edit_rejected", "edits")

        return handler

    approve = post(
        "/sites/{slug:str}/edits/{edit_id:uuid}/approve",
        status_code=303,
        sync_to_thread=True,
        name="portal-approve",
    )(decide("approve"))
    reject = post(
        "/sites/{slug:str}/edits/{edit_id:uuid}/reject",
        status_code=303,
        sync_to_thread=True,
        name="portal-reject",
    )(decide("reject"))

    @post("/sites/{slug:str}/versions/{number:int}/restore", status_code=303, sync_to_thread=True)
    def restore(request: Request[Any, Any, Any], slug: FromPath[str], number: FromPath[int]) -> Response[Any]:
        customer = customer_of(request)
        sites.owned_site(customer.id, slug)
        try:
            edits.restore(customer.id, slug, number)
        except (NotFound, Conflict) as error:
            return refused(customer, slug, error)
        return back(slug, "version_restored", "versions")

    return [ask, approve, reject, restore]
