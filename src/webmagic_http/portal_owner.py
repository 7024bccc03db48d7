"""The signed-in owner's pages: ``/portal`` (my sites), ``/portal/sites/{slug}`` (one site:
status, subscription, history) and ``/portal/account`` (profile, password, sign out
everywhere).

Every page and form needs a session (``portal_session``); without one a page redirects to
``/portal/login?next=<this page>``. Another customer's site, an archived or an unknown slug
is the same 404 page. Forms post to paths under the page they belong to and redirect back
to it (post/redirect/get) with a one-line notice; when the core refuses, the page is shown
again with its one-line message and the matching status code.

The site page is a list of sections (``sections`` in its context, each a template under
``portal/site/``): the capabilities added later (edit requests, versions, custom domain)
are further sections, their contexts built by the ``portal_*_view`` modules. Their forms are
route modules of their own (``portal_domain``, ``portal_edits``, ``portal_versions``), given
this module's ``site_page`` by the app, which assembles the portal (``webmagic_http.app``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
import attrs
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from webmagic_core.errors import (
    Conflict,
    NotFound,
    Throttled,
    TransientError,
    Unauthenticated,
    ValidationError,
    WebMagicError,
)
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.gateway import GatewayError
from webmagic_core.payments.subscriptions import SubscriptionState
from webmagic_core.services.accounts import AccountService
from webmagic_core.services.domains import DomainService
from webmagic_core.services.edits import EDITABLE, EditService
from webmagic_core.services.site_page import SitePage, SitePageService
from webmagic_core.services.sites import SiteService
from webmagic_core.services.subscriptions import NO_SUBSCRIPTION, SubscriptionService, SubscriptionView
from webmagic_http.common import client_address, money_text
from webmagic_http.lanes import PasswordLane
from webmagic_http.portal_domain_view import DOMAIN_NOTICES, domain_section
from webmagic_http.portal_edits_view import EDIT_NOTICES, PreviewLinks, edit_section
from webmagic_http.portal_pages import PageFn, core_error_status, sentence
from webmagic_http.portal_session import PortalSessions
from webmagic_http.portal_versions_view import versions_section
from webmagic_http.portal_words import day, history, standing

P = ParamSpec("P")
T = TypeVar("T")

SITE_NOTICES = {
    "cancelled": "Your subscription is cancelled. Nothing more will be charged.",
    "checkout_left": "You left the checkout; nothing was charged.",
    **DOMAIN_NOTICES,
    **EDIT_NOTICES,
}
ACCOUNT_NOTICES = {
    "profile_saved": "Your details are saved.",
    "password_changed": "Your password is changed. Every other device was signed out.",
}


@attrs.frozen
class ShowAll:
    """Which lists of the site page are shown whole (``?versions=all``, ``?edits=all``,
    ``?history=all``) rather than their most recent rows."""

    versions: bool = False
    edits: bool = False
    history: bool = False


# The site page's history shows this many moments, newest first; "show all" lists every one
# (a site a few years old has a line per monthly payment).
HISTORY_SHOWN = 12


@attrs.frozen
class OwnerPages:
    """The owner's handlers, and the site page the forms of its sections show again when
    the core refuses (``portal_domain``, ``portal_edits``)."""

    handlers: list[HTTPRouteHandler]
    site_page: PageFn


def owner_handlers(
    *,
    accounts: AccountService,
    sites: SiteService,
    subscriptions: SubscriptionService,
    site_pages: SitePageService,
    domains: DomainService,
    edits: EditService,
    sessions: PortalSessions,
    lane: PasswordLane,
    page: PageFn,
    offload: bool = True,
) -> OwnerPages:
    """The owner's pages. ``offload``: run the site page's database reads in the thread
    pool (a database over the network); without it (SQLite) they run on the event loop."""
    config = subscriptions.config
    monthly = config.price

    def current(customer: Customer, slug: str) -> SubscriptionView | None:
        try:
            return subscriptions.get(customer.id, slug)
        except NotFound as error:
            if error.detail != NO_SUBSCRIPTION:
                raise
            return None
        except Conflict:
            return None

    def included_until(status: SiteStatus, purchased_at: dt.datetime | None) -> dt.datetime | None:
        if status is not SiteStatus.OWNED or purchased_at is None:
            return None
        return config.included_hosting_end(purchased_at)

    # --- my sites ---------------------------------------------------------------------

    @get("/", sync_to_thread=True)
    def my_sites(request: Request[Any, Any, Any]) -> Template:
        customer = sessions.customer(request)
        cards = []
        for site in sites.owned_by(customer.id):
            cards.append(
                {
                    "slug": site.slug,
                    "name": site.business_name,
                    "url": config.site_url(site.slug),
                    "standing": standing(
                        site.status,
                        current(customer, site.slug),
                        included_until(site.status, site.purchased_at),
                        monthly,
                    ),
                }
            )
        return page("sites", title="Your websites", customer=customer, sites=cards)

    # --- one site ---------------------------------------------------------------------

    previews = PreviewLinks(edits, site_pages.clock)

    def site_page(
        customer: Customer,
        slug: str,
        *,
        status: int = 200,
        notice: str | None = None,
        error: str | None = None,
        found: SitePage | None = None,
        show_all: ShowAll = ShowAll(),
    ) -> Template:
        if found is None:
            found = site_pages.for_customer(customer, slug)  # NotFound for anyone else's site
        site, view, rows = found.site, found.subscription, found.rows
        sub = view.subscription if view is not None else None
        live = sub is not None and sub.is_live
        cancelled = sub is not None and sub.status is SubscriptionState.CANCELLED
        pending = sub is not None and sub.status is SubscriptionState.PENDING
        resumable = (
            site.status is SiteStatus.ACTIVE and cancelled and sub is not None and sub.ended_at is None
        )
        until = included_until(site.status, site.purchased_at)
        subscription = {
            "state": sub.status.value if sub is not None else None,
            "live": live,
            "cancellable": live and sub is not None and sub.provider_id is not None,
            "can_start": not live and (site.status in (SiteStatus.OWNED, SiteStatus.SUSPENDED) or resumable),
            "resume": resumable,
            "pending": pending,
            "next_payment_on": day(view.next_payment_attempt_at) if view is not None else None,
            "period_end_on": day(sub.paid_through or sub.current_period_end) if sub is not None else None,
            "ends_on": day(view.ends_at) if view is not None else None,
            "started_on": day(sub.started_at) if sub is not None else None,
            # Every subscription's payments while one is current (as ``SubscriptionView``).
            "payments": [
                {"on": day(p.paid_at), "amount": money_text(p.amount), "until": day(p.period_end)}
                for p in (rows.payments[:12] if view is not None else ())
            ],
            "included_until": day(until),
            "monthly": money_text(monthly),
        }
        moments = history(rows.events, rows.versions, rows.subscriptions, rows.payments)
        return page(
            "site",
            status,
            title=site.business_name,
            customer=customer,
            site={
                "slug": site.slug,
                "name": site.business_name,
                "url": config.site_url(site.slug),
                "standing": standing(site.status, view, until, monthly),
                "bought_on": day(site.purchased_at),
            },
            subscription=subscription,
            moments=moments if show_all.history else moments[:HISTORY_SHOWN],
            moments_total=len(moments),
            custom=domain_section(rows.domain, domains.config.cnames_to, site.status),
            versions=versions_section(rows.versions, site.current_version, everything=show_all.versions),
            can_restore=site.status in EDITABLE,
            edits=edit_section(
                rows.edits,
                rows.changed,
                previews.url,
                per_month=edits.config.per_month,
                site_status=site.status,
                everything=show_all.edits,
            ),
            sections=[
                "portal/site/subscription.html",
                "portal/site/edits.html",
                "portal/site/versions.html",
                "portal/site/domain.html",
                "portal/site/history.html",
            ],
            notice=notice,
            error=error,
            csp_form_action="'self' https:",
            scripts=True,
        )

    @get("/sites/{slug:str}")
    async def site(
        request: Request[Any, Any, Any],
        slug: FromPath[str],
        notice: FromQuery[str | None] = None,
        versions: FromQuery[str | None] = None,
        edits: FromQuery[str | None] = None,
        history: FromQuery[str | None] = None,
    ) -> Template:
        said = SITE_NOTICES.get(notice or "")
        everything = ShowAll(versions=versions == "all", edits=edits == "all", history=history == "all")
        if offload:
            return await _in_thread(show_site, request, slug, said, everything)
        # SQLite: the page's reads are local and take a few milliseconds, less than the hop
        # to a worker thread and back costs under load; they run on the event loop, as the
        # hosted pages' do. Refreshing an expired session writes, so it goes to a thread.
        shown = show_signed_in(request, slug, said, everything)
        if shown is not None:
            return shown
        return await _in_thread(show_site, request, slug, said, everything)

    def show_signed_in(
        request: Request[Any, Any, Any], slug: str, said: str | None, everything: ShowAll
    ) -> Template | None:
        """The page in one read, session check included, while the access cookie holds;
        ``None`` when it does not (expired or revoked: the refresh cookie decides)."""
        token = sessions.access_token(request)
        if token is None:
            return None
        customer_id, version, login_id = token
        try:
            found = site_pages.signed_in(
                slug, customer_id=customer_id, token_version=version, login_id=login_id
            )
        except Unauthenticated:
            return None
        return site_page(found.customer, slug, notice=said, found=found, show_all=everything)

    def show_site(
        request: Request[Any, Any, Any], slug: str, said: str | None, everything: ShowAll
    ) -> Template:
        shown = show_signed_in(request, slug, said, everything)
        if shown is not None:
            return shown
        # The session is refreshed (a write), or SignInRequired.
        return site_page(sessions.customer(request), slug, notice=said, show_all=everything)

    @post("/sites/{slug:str}/subscription/start", status_code=303, sync_to_thread=True)
    def start_subscription(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        customer = sessions.customer(request)
        sites.owned_site(customer.id, slug)  # 404 before anything else
        try:
            checkout = subscriptions.start(customer.id, slug)
        except (Conflict, GatewayError, TransientError, ValidationError) as error:
            status, text = core_error_status(error)
            return site_page(customer, slug, status=status, error=text)
        return Redirect(checkout.checkout_url, status_code=303)

    @post("/sites/{slug:str}/subscription/cancel", status_code=303, sync_to_thread=True)
    def cancel_subscription(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        customer = sessions.customer(request)
        sites.owned_site(customer.id, slug)
        try:
            subscriptions.cancel(customer.id, slug)
        except (Conflict, GatewayError, TransientError) as error:
            status, text = core_error_status(error)
            return site_page(customer, slug, status=status, error=text)
        return Redirect(f"/portal/sites/{slug}?notice=cancelled", status_code=303)

    # --- account ----------------------------------------------------------------------

    def account_page(
        customer: Customer,
        *,
        status: int = 200,
        notice: str | None = None,
        profile_errors: dict[str, str] | None = None,
        password_errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Template:
        return page(
            "account",
            status,
            title="Your account",
            customer=customer,
            notice=notice,
            profile_errors=profile_errors or {},
            password_errors=password_errors or {},
            values=values or {"full_name": customer.full_name or "", "phone": customer.phone or ""},
            min_length=MIN_LENGTH,
            max_length=MAX_LENGTH,
        )

    @get("/account", sync_to_thread=True)
    def account(request: Request[Any, Any, Any], notice: FromQuery[str | None] = None) -> Template:
        return account_page(sessions.customer(request), notice=ACCOUNT_NOTICES.get(notice or ""))

    @post("/account", status_code=303)
    async def save_profile(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await request.form()
        full_name, phone = str(data.get("full_name", "")), str(data.get("phone", ""))
        customer = await _in_thread(sessions.customer, request)
        try:
            await _in_thread(accounts.update_profile, customer.id, full_name=full_name, phone=phone)
        except ValidationError as error:
            field = error.field if error.field in ("full_name", "phone") else "full_name"
            return account_page(
                customer,
                status=400,
                profile_errors={field: sentence(error.detail)},
                values={"full_name": full_name, "phone": phone},
            )
        return Redirect("/portal/account?notice=profile_saved", status_code=303)

    @post("/account/password", status_code=303)
    async def change_password(request: Request[Any, Any, Any]) -> Response[Any]:
        data = await request.form()
        current_password = str(data.get("current_password", ""))
        new_password = str(data.get("new_password", ""))
        confirmation = str(data.get("new_password_confirmation", ""))
        customer = await _in_thread(sessions.customer, request)

        def refused(status: int, field: str, text: str) -> Template:
            return account_page(customer, status=status, password_errors={field: text})

        if not current_password:
            return refused(400, "current_password", "Enter your current password.")
        if not new_password:
            return refused(400, "new_password", "Enter a new password.")
        if new_password != confirmation:
            return refused(400, "new_password_confirmation", "The two new passwords are not the same.")
        try:
            await lane.run(accounts.change_password, customer.id, current_password, new_password)
        except Throttled as error:
            template = refused(429, "current_password", "Too many wrong passwords. Try again later.")
            template.headers["retry-after"] = str(error.retry_after)
            return template
        except ValidationError as error:
            field = error.field if error.field in ("current_password", "new_password") else "new_password"
            return refused(400, field, sentence(error.detail))
        except (Conflict, Unauthenticated) as error:
            status, text = core_error_status(error)
            return refused(status, "current_password", text)
        # Every login ended, this one too: open a new one for this browser with the new password.
        try:
            result = await lane.run(accounts.login, customer.email, new_password, client_address(request))
        except WebMagicError:
            return Redirect(
                "/portal/login?notice=password_reset", status_code=303, cookies=sessions.cleared()
            )
        return Redirect(
            "/portal/account?notice=password_changed", status_code=303, cookies=sessions.cookies(result)
        )

    @post("/account/sign-out-everywhere", status_code=303, sync_to_thread=True)
    def sign_out_everywhere(request: Request[Any, Any, Any]) -> Response[Any]:
        customer = sessions.customer(request)
        accounts.sign_out_everywhere(customer.id)
        return Redirect(
            "/portal/login?notice=signed_out_everywhere", status_code=303, cookies=sessions.cleared()
        )

    return OwnerPages(
        [
            my_sites,
            site,
            start_subscription,
            cancel_subscription,
            account,
            save_profile,
            change_password,
            sign_out_everywhere,
        ],
        site_page,
    )


async def _in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A blocking call (the database) off the event loop."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))
