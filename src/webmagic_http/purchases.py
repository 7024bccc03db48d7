"""Buying a preview site: ``POST /api/v1/sites/{slug}/purchase`` and the purchase pages.

The API endpoint takes ``{"email", "full_name"?, "phone"?}``, or a signed-in customer's
``Authorization: Bearer`` token with no body (or only ``full_name``/``phone``), and answers
201 with the checkout to send the buyer to. The pages, under the reserved prefix
``/purchase`` on the API host, let a person buy with a browser alone:

- ``GET /purchase/{slug}``: what the preview banner's "Buy this site" button opens:
  business name, price, what is included, and a form (email, name, phone);
- ``POST /purchase/{slug}``: starts the checkout and sends the browser on to it (303);
  a problem (sold, held by another buyer, a bad address, throttled, provider down)
  re-renders the form saying so;
- ``GET /purchase/{slug}/thanks?purchase=ID&token=T``: the checkout's success URL: what
  happens next, and whether the payment has arrived yet (reloads itself while it has not);
- ``GET /purchase/{slug}/cancelled?purchase=ID&token=T``: the checkout's cancel URL: says
  nothing was charged and changes nothing; its form (``POST``, CSRF-protected) releases
  the site for other buyers at once and closes the checkout.

The return pages show a purchase only with the signed token its return URLs carry (which
only the provider's redirect hands out): knowing a purchase id or a buyer's email is not
enough to read or cancel it.

Plain HTML, no JavaScript, forms CSRF-protected like the portal's (a token in a cookie
scoped to ``/purchase`` and in a hidden field). The service is synchronous: every handler
runs in the thread pool. Return URLs are built by ``PurchaseService`` from the configured
public URL only, never from the request.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

import attrs
from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, RawBody, SkipValidation
from litestar.response import Redirect, Template

from webmagic_adapters.bootstrap import Keyring
from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import (
    Conflict,
    NotFound,
    Throttled,
    TransientError,
    ValidationError,
)
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.gateway import GatewayError
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.ports import SiteHead
from webmagic_core.services.accounts import AccountService
from webmagic_core.services.purchases import NOT_FOR_SALE, PURCHASE_PAGES, CheckoutStarted, PurchaseService
from webmagic_core.services.sites import SiteService
from webmagic_core.slugs import is_valid_slug
from webmagic_http.auth import AccessTokens, csrf_protection, signed_in
from webmagic_http.boundary import json_body, parse
from webmagic_http.common import (
    BEARER_SECURITY,
    MAX_BODY_BYTES,
    REFRESH_SECONDS,
    Form,
    client_address,
    html_page,
    money_text,
    page_headers,
)
from webmagic_http.problems import problem_spec

log = logging.getLogger(__name__)

API_PATH = "/api/v1/sites/{slug:str}/purchase"
CSRF_COOKIE = "webmagic_csrf_purchase"
CSRF_KEY_LABEL = "webmagic.csrf.purchase.v1"

SOLD = "This site has been sold"
PROVIDER_DOWN = (
    "The payment service cannot be reached right now, and nothing was charged. Try again in a minute."
)
PROVIDER_REFUSED = (
    "The payment service could not start the checkout, and nothing was charged. Try again later."
)


# --- the API endpoint ----------------------------------------------------------------------


@attrs.frozen
class PurchaseRequest:
    email: str
    full_name: str | None = None
    phone: str | None = None


@attrs.frozen
class SignedInPurchaseRequest:
    """A signed-in buyer's optional body: the address is the account's."""

    full_name: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class PurchaseStarted:
    checkout_id: str
    checkout_url: str
    purchase_id: str
    expires_at: str  # ISO 8601 with a UTC offset: the site is held for this buyer until then

    @classmethod
    def of(cls, started: CheckoutStarted) -> PurchaseStarted:
        return cls(
            checkout_id=started.checkout_id,
            checkout_url=started.checkout_url,
            purchase_id=str(started.purchase_id),
            expires_at=started.expires_at.astimezone(dt.UTC).isoformat(),
        )


def optional_customer(accounts: AccountService, tokens: AccessTokens) -> Provide:
    """The ``customer`` dependency of endpoints open to everyone: the signed-in customer when
    an ``Authorization`` header is sent (401 when its token is bad), else ``None``."""

    def maybe_signed_in(request: Request[Any, Any, Any]) -> Customer | None:
        if "authorization" not in request.headers:
            return None
        return signed_in(request, accounts, tokens)

    return Provide(maybe_signed_in, sync_to_thread=True)


def purchase_api_routes(purchases: PurchaseService, accounts: AccountService, tokens: AccessTokens) -> Router:
    @post(
        API_PATH,
        status_code=201,
        sync_to_thread=True,
        cache_control=CacheControlHeader(no_store=True),
        operation_class=json_body(PurchaseRequest),
        security=[{}, *BEARER_SECURITY],
        summary="Start buying a preview site: a checkout to send the buyer to",
        description="Send the buyer's email (and optionally name and phone), or a signed-in "
        "customer's bearer token and no body. The site is held for this buyer until `expires_at`.",
        responses={
            400: problem_spec(
                "The body is not valid JSON, misses a field, has a wrong type or an unknown key"
            ),
            401: problem_spec("An access token was sent and is invalid or expired"),
            404: problem_spec("No site has this slug"),
            409: problem_spec("The site is sold, or another buyer is checking it out right now"),
            429: problem_spec("Too many purchase attempts: see Retry-After"),
            502: problem_spec("The payment provider refused to create the checkout"),
            503: problem_spec("The payment provider cannot be reached: see Retry-After"),
        },
    )
    def purchase(
        request: Request[Any, Any, Any],
        slug: FromPath[str],
        body: RawBody,
        customer: SkipValidation[Customer | None],
    ) -> PurchaseStarted:
        client = client_address(request)
        if customer is None:
            data = parse(body, PurchaseRequest)
            started = purchases.start(slug, data.email, data.full_name, data.phone, client=client)
        else:
            signed_in = parse(body, SignedInPurchaseRequest) if body.strip() else SignedInPurchaseRequest()
            started = purchases.start(
                slug, None, signed_in.full_name, signed_in.phone, customer_id=customer.id, client=client
            )
        return PurchaseStarted.of(started)

    return Router(
        "/",
        route_handlers=[purchase],
        dependencies={"customer": optional_customer(accounts, tokens)},
        request_max_body_size=MAX_BODY_BYTES,
        tags=["sites"],
    )


# --- pages (shared with the sandbox checkout page) ------------------------------------------


@attrs.frozen
class PurchaseOffer:
    """What the purchase page says is included (from the settings)."""

    price: Money
    monthly: Money
    hosting_days: int


def purchase_pages(
    sites: SiteService,
    purchases: PurchaseService,
    offer: PurchaseOffer,
    *,
    keys: Keyring,
    secure_cookie: bool,
) -> Router:
    headers = page_headers(purchases.config.public_url)

    def message(
        status: int, title: str, text: str, *, links: list[tuple[str, str]] | None = None
    ) -> Template:
        return html_page(
            "purchase/message.html", headers, status, title=title, message=text, links=links or []
        )

    def not_found() -> Template:
        return message(
            404,
            "This site cannot be found",
            "There is no site at this address, or it has been taken down.",
        )

    def site_of(slug: str) -> SiteHead | None:
        """The site to sell at ``slug`` (any status but archived), or None."""
        if not is_valid_slug(slug):
            return None
        return sites.resolve(slug).site

    def form(
        site: SiteHead,
        status: int = 200,
        *,
        values: Mapping[str, str] | None = None,
        error: str | None = None,
        field_errors: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Template:
        return html_page(
            "purchase/form.html",
            {**headers, **(extra_headers or {})},
            status,
            title=f"Buy the website of {site.business_name}",
            business_name=site.business_name,
            slug=site.slug,
            site_url=purchases.config.site_url(site.slug),
            price=money_text(offer.price),
            monthly=money_text(offer.monthly),
            hosting_days=offer.hosting_days,
            values=dict(values or {}),
            error=error,
            errors=dict(field_errors or {}),
        )

    def sold(site: SiteHead, status: int) -> Template:
        return message(
            status,
            SOLD,
            f"The website of {site.business_name} has a new owner, so it is no longer for sale.",
            links=[("Visit the site", purchases.config.site_url(site.slug))],
        )

    @get("/{slug:str}", sync_to_thread=True)
    def show(slug: FromPath[str]) -> Template:
        site = site_of(slug)
        if site is None:
            return not_found()
        if site.status is not SiteStatus.PREVIEW:
            return sold(site, 200)
        return form(site)

    @post("/{slug:str}", sync_to_thread=True, status_code=303)
    def start(request: Request[Any, Any, Any], slug: FromPath[str], data: Form) -> Response[Any]:
        site = site_of(slug)
        if site is None:
            return not_found()
        values = {name: data.get(name, "").strip() for name in ("email", "full_name", "phone")}
        if not values["email"]:
            return form(site, 400, values=values, field_errors={"email": "Enter your email address."})
        try:
            started = purchases.start(
                slug,
                values["email"],
                values["full_name"] or None,
                values["phone"] or None,
                client=client_address(request),
            )
        except NotFound:
            return not_found()
        except Conflict as error:
            if error.detail == NOT_FOR_SALE:
                return sold(site, 409)
            return form(site, 409, values=values, error=_sentence(error.detail))
        except ValidationError as error:
            field = error.field if error.field in values else "email"
            return form(site, 400, values=values, field_errors={field: _sentence(error.detail)})
        except Throttled as error:
            minutes = max(1, -(-error.retry_after // 60))
            return form(
                site,
                429,
                values=values,
                error=f"Too many purchase attempts; try again in {minutes} minute(s).",
                extra_headers={"retry-after": str(error.retry_after)},
            )
        except TransientError:
            return form(site, 503, values=values, error=PROVIDER_DOWN, extra_headers={"retry-after": "30"})
        except GatewayError as error:
            log.error("the payment provider refused a checkout for %s: %s", slug, error.detail)
            return form(site, 502, values=values, error=PROVIDER_REFUSED)
        return Redirect(started.checkout_url, status_code=303, headers={"cache-control": "no-store"})

    def purchase_of(
        slug: str, purchase_id: str | None, token: str | None
    ) -> tuple[SiteHead, Purchase] | None:
        """The purchase named in a return URL, when it is one of the site at ``slug`` and
        the token is the one its return URLs were signed with."""
        site = site_of(slug)
        if site is None or not purchase_id:
            return None
        try:
            wanted = uuid.UUID(purchase_id)
        except ValueError:
            return None
        if not purchases.config.valid_return_token(wanted, token):
            return None
        try:
            found = purchases.get(wanted)
        except NotFound:
            return None
        return (site, found) if found.site_id == site.id else None

    def unknown_purchase() -> Template:
        return message(
            404,
            "This purchase cannot be found",
            "This link does not name a purchase of this site. Open the link from the checkout again, "
            "or check your email.",
        )

    @get("/{slug:str}/thanks", sync_to_thread=True)
    def thanks(
        slug: FromPath[str], purchase: FromQuery[str | None] = None, token: FromQuery[str | None] = None
    ) -> Template:
        found = purchase_of(slug, purchase, token)
        if found is None:
            return unknown_purchase()
        site, bought = found
        pending = bought.status is PurchaseStatus.PENDING
        return html_page(
            "purchase/thanks.html",
            headers,
            title="Thank you" if bought.status is PurchaseStatus.PAID or pending else "Your purchase",
            business_name=site.business_name,
            slug=site.slug,
            state=bought.status.value,
            email=bought.buyer_email,
            site_url=purchases.config.site_url(site.slug),
            hosting_days=offer.hosting_days,
            monthly=money_text(offer.monthly),
            reason=bought.failure_reason,
            checkout_url=bought.checkout_url if pending else None,
            refresh=REFRESH_SECONDS if pending else None,
        )

    def cancelled_page(site: SiteHead, bought: Purchase, token: str, notice: str | None) -> Template:
        site_url = purchases.config.site_url(site.slug)
        if bought.status is PurchaseStatus.PAID:
            return message(
                200,
                "This purchase is paid",
                f"Your payment for the website of {site.business_name} has arrived: the site is yours.",
                links=[("Visit your site", site_url)],
            )
        pending = bought.status is PurchaseStatus.PENDING
        return html_page(
            "purchase/cancelled.html",
            headers,
            title="Payment cancelled",
            business_name=site.business_name,
            site_url=site_url,
            slug=site.slug,
            for_sale=bought.status is not PurchaseStatus.REFUND_DUE,
            declined=bought.failure_reason is not None and bought.status is not PurchaseStatus.CANCELLED,
            held_until=bought.expires_at.strftime("%H:%M UTC") if pending else None,
            checkout_url=bought.checkout_url if pending else None,
            release_action=f"{PURCHASE_PAGES}/{site.slug}/cancelled",
            purchase_id=str(bought.id),
            token=token,
            notice=notice,
        )

    @get("/{slug:str}/cancelled", sync_to_thread=True)
    def cancelled(
        slug: FromPath[str],
        purchase: FromQuery[str | None] = None,
        token: FromQuery[str | None] = None,
        released: FromQuery[str | None] = None,
    ) -> Template:
        """Changes nothing (a link may be opened by anyone, or prefetched): the form below
        releases the site."""
        found = purchase_of(slug, purchase, token)
        if found is None or token is None:
            return unknown_purchase()
        site, bought = found
        notice = "The site is released: anyone may buy it now." if released else None
        return cancelled_page(site, bought, token, notice)

    @post("/{slug:str}/cancelled", sync_to_thread=True, status_code=303)
    def release(slug: FromPath[str], data: Form) -> Response[Any]:
        found = purchase_of(slug, data.get("purchase"), data.get("token"))
        if found is None:
            return unknown_purchase()
        site, bought = found
        try:
            purchases.cancel(bought.id, reason="the buyer left the checkout")
        except TransientError:
            return message(
                503,
                "The site could not be released yet",
                "The payment service cannot be reached right now, so the checkout is still open. "
                "Nothing was charged. Try again in a minute.",
            )
        query = urlencode(
            {"purchase": str(bought.id), "token": purchases.config.return_token(bought.id), "released": "1"}
        )
        return Redirect(
            f"{PURCHASE_PAGES}/{site.slug}/cancelled?{query}",
            status_code=303,
            headers={"cache-control": "no-store"},
        )

    def page_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        """Errors here are pages (a person with a browser is reading)."""
        if exc.status_code == 403:  # the CSRF middleware: no valid token in the form
            return message(
                403,
                "This form could not be accepted",
                "Its security token is missing or does not match. This happens when cookies are "
                "blocked or the form was sent from another site. Reload the page and try again.",
            )
        status = exc.status_code if 400 <= exc.status_code < 500 else 500
        if status == 500:
            log.error("HTTP %s on %s %s: %s", exc.status_code, request.method, request.url.path, exc.detail)
        return message(status, HTTPStatus(status).phrase, "This page cannot be shown.")

    return Router(
        PURCHASE_PAGES,
        route_handlers=[show, start, thanks, cancelled, release],
        middleware=[
            csrf_protection(
                keys,
                label=CSRF_KEY_LABEL,
                cookie=CSRF_COOKIE,
                path=PURCHASE_PAGES,
                secure=secure_cookie,
            )
        ],
        exception_handlers={HTTPException: page_error},
        request_max_body_size=MAX_BODY_BYTES,
        include_in_schema=False,
    )


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
