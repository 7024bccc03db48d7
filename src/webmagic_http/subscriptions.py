"""The $95/month hosting subscription of an owned site, over HTTP.

The API (``/api/v1/customer/sites/{slug}/subscription``, served by the customer-site
router of ``customer_sites``; Bearer token, owner only):

- ``POST`` → 201 ``{"checkout_id", "checkout_url", "subscription_id", "expires_at",
  "first_charge_at"}``: a monthly checkout to send the customer to (an open one of this
  site is returned again). Allowed for an owned or suspended site, and for an active one
  whose subscription was cancelled at period end. Time already paid for (the included
  hosting, the rest of a cancelled period) becomes a free trial of whole weeks or months:
  ``first_charge_at`` says when the first charge falls.
- ``GET`` → 200 the subscription: status, period end, next payment attempt, whether it
  ends at the period end and when, the monthly price and the payments, newest first.
- ``DELETE`` → 200 the subscription, cancelled at period end: no more charges, the site
  stays online until the end of the paid time, then it is suspended.

Another customer's site, one nobody owns, or an unknown or archived slug → 404 (the same
answer); a live subscription when starting one, or nothing to cancel → 409; the
payment provider refusing → 502, unreachable → 503.

The page (``GET /portal/sites/{slug}/subscription``) is where the checkout returns
(``?checkout=done|cancelled&subscription=<id>``) and where the subscription emails link.
It needs no sign-in, so it shows only what the unguessable subscription id in its address
names: the outcome of that checkout, the subscription's status and dates, and whether the
site is online. Without those parameters (the emails' links) it redirects to the site's
page in the portal, where the subscription is managed after signing in.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import attrs
from litestar import Request, Response, Router, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, RawBody
from litestar.response import Redirect, Template

from webmagic_core.errors import NotFound
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import Subscription, SubscriptionPayment, SubscriptionState
from webmagic_core.services.sites import SiteService
from webmagic_core.services.subscriptions import (
    PORTAL_SITES,
    SubscriptionCheckout,
    SubscriptionService,
    SubscriptionView,
)
from webmagic_core.slugs import is_valid_slug
from webmagic_http.api_bodies import SubscriptionSummary, iso
from webmagic_http.auth import CurrentCustomer
from webmagic_http.boundary import parse
from webmagic_http.common import BEARER_SECURITY, REFRESH_SECONDS, html_page, money_text, page_headers
from webmagic_http.problems import problem_spec

log = logging.getLogger(__name__)

SUBSCRIPTION_PATH = "/{slug:str}/subscription"
NO_STORE = CacheControlHeader(no_store=True)


# --- responses ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MoneyBody:
    amount_in_cents: int
    currency: str

    @classmethod
    def of(cls, money: Money) -> MoneyBody:
        return cls(amount_in_cents=money.amount_in_cents, currency=money.currency)


@dataclass(frozen=True, slots=True)
class SubscriptionStarted:
    checkout_id: str
    checkout_url: str
    subscription_id: str
    expires_at: str  # the checkout can be paid until then
    # The first charge: the end of time already paid for (a free trial), else at the checkout.
    first_charge_at: str | None = None

    @classmethod
    def of(cls, started: SubscriptionCheckout) -> SubscriptionStarted:
        return cls(
            checkout_id=started.checkout_id,
            checkout_url=started.checkout_url,
            subscription_id=str(started.subscription_id),
            expires_at=started.expires_at.astimezone(dt.UTC).isoformat(),
            first_charge_at=(
                started.first_charge_at.astimezone(dt.UTC).isoformat()
                if started.first_charge_at is not None
                else None
            ),
        )


@dataclass(frozen=True, slots=True)
class PaymentBody:
    payment_id: str
    amount: MoneyBody
    paid_at: str
    period_end: str | None  # the end of the period it paid for, when known

    @classmethod
    def of(cls, payment: SubscriptionPayment) -> PaymentBody:
        return cls(
            payment_id=payment.payment_id,
            amount=MoneyBody.of(payment.amount),
            paid_at=payment.paid_at.astimezone(dt.UTC).isoformat(),
            period_end=iso(payment.period_end),
        )


@dataclass(frozen=True, slots=True)
class SubscriptionBody(SubscriptionSummary):
    """The summary's fields, then the start, the price and the payments."""

    started_at: str | None
    price: MoneyBody  # per month
    payments: list[PaymentBody]  # of every subscription the site has had, newest first

    @classmethod
    def of(cls, view: SubscriptionView) -> SubscriptionBody:
        return cls(
            **cls.summary_fields(view),
            started_at=iso(view.subscription.started_at),
            price=MoneyBody.of(view.subscription.amount),
            payments=[PaymentBody.of(payment) for payment in view.payments],
        )


@attrs.frozen
class NoBody:
    """``POST .../subscription`` takes no fields; an empty body or ``{}`` is fine."""


# --- the API handlers (mounted on the customer-site router, which provides ``customer``) ---


def subscription_handlers(subscriptions: SubscriptionService) -> list[HTTPRouteHandler]:
    unauthenticated = problem_spec("The access token is missing, expired, tampered with or revoked")
    not_found = problem_spec("No site of this customer has this slug")

    @post(
        SUBSCRIPTION_PATH,
        status_code=201,
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="Start the monthly hosting subscription: a checkout to send the customer to",
        description="For an owned or suspended site, or an active one whose subscription is "
        "cancelled at period end. Resuming before that date starts a new subscription charged at "
        "its checkout, whose month starts that day; the days left on the cancelled one are not "
        "carried over. An open checkout of the site is returned again.",
        responses={
            400: problem_spec("A body was sent and is not an empty JSON object"),
            401: unauthenticated,
            404: not_found,
            409: problem_spec("The site is a preview, or already has a live subscription"),
            502: problem_spec("The payment provider refused to create the checkout"),
            503: problem_spec("The payment provider cannot be reached: see Retry-After"),
        },
    )
    def start(customer: CurrentCustomer, slug: FromPath[str], body: RawBody) -> SubscriptionStarted:
        if body.strip():
            parse(body, NoBody)
        return SubscriptionStarted.of(subscriptions.start(customer.id, slug))

    @get(
        SUBSCRIPTION_PATH,
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="The site's subscription and its payments",
        responses={
            401: unauthenticated,
            404: problem_spec("No site of this customer has this slug, or it never had a subscription"),
            409: problem_spec("The site is a preview"),
        },
    )
    def show(customer: CurrentCustomer, slug: FromPath[str]) -> SubscriptionBody:
        return SubscriptionBody.of(subscriptions.get(customer.id, slug))

    @delete(
        SUBSCRIPTION_PATH,
        status_code=200,
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="Cancel at period end: no more charges; the site stays online until the paid time ends",
        description="Repeating it returns the same subscription.",
        responses={
            401: unauthenticated,
            404: not_found,
            409: problem_spec("The site is a preview, or has no subscription to cancel"),
            502: problem_spec("The payment provider refused the cancellation"),
            503: problem_spec("The payment provider cannot be reached: see Retry-After"),
        },
    )
    def cancel(customer: CurrentCustomer, slug: FromPath[str]) -> SubscriptionBody:
        return SubscriptionBody.of(subscriptions.cancel(customer.id, slug))

    return [start, show, cancel]


# --- the page the checkout returns to -------------------------------------------------------


def subscription_pages(sites: SiteService, subscriptions: SubscriptionService) -> Router:
    config = subscriptions.config
    headers = page_headers(config.public_url)

    def message(status: int, title: str, text: str) -> Template:
        return html_page("purchase/message.html", headers, status, title=title, message=text, links=[])

    def unknown() -> Template:
        return message(
            404,
            "This subscription cannot be found",
            "This link does not name a subscription of this site. Open the link from the checkout "
            "or the email again.",
        )

    def subscription_of(site_id: uuid.UUID, reference: str | None) -> Subscription | None:
        """The subscription a return URL names, when it belongs to the site ``site_id``."""
        if not reference:
            return None
        try:
            found = subscriptions.find(str(uuid.UUID(reference)))
        except (ValueError, NotFound):
            return None
        return found if found.site_id == site_id else None

    @get(SUBSCRIPTION_PATH, sync_to_thread=True)
    def page(
        slug: FromPath[str],
        checkout: FromQuery[str | None] = None,
        subscription: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        site = sites.resolve(slug).site if is_valid_slug(slug) else None
        if site is None or site.status is SiteStatus.ARCHIVED:
            return message(404, "This site cannot be found", "There is no site at this address.")
        common: dict[str, Any] = {
            "business_name": site.business_name,
            "site_url": config.site_url(site.slug),
            "monthly": money_text(config.price),
            "online": site.status is not SiteStatus.SUSPENDED,
            "portal_path": f"{PORTAL_SITES}/{site.slug}",
        }
        if checkout is None and subscription is None:
            # The emails' "manage" links: the site's page in the portal (signing in first).
            return Redirect(f"{PORTAL_SITES}/{site.slug}#subscription", status_code=303)
        if checkout not in ("done", "cancelled"):
            return unknown()
        found = subscription_of(site.id, subscription)
        if found is None:
            return unknown()
        view = SubscriptionView(site.slug, found, ())
        # Started within time already paid for (a free trial): nothing charged yet.
        charged = bool(subscriptions.payments(found.id))
        pending = found.status is SubscriptionState.PENDING
        return html_page(
            "subscription/return.html",
            headers,
            title=_title(checkout, found.status, charged=charged),
            checkout=checkout,
            state=found.status.value,
            current_period_end=_day(view.current_period_end),
            next_payment_on=_day(view.next_payment_attempt_at),
            ends_on=_day(view.ends_at),
            cancel_at_period_end=view.cancel_at_period_end,
            charged=charged,
            # Only while the payment may still arrive: waiting for its webhook.
            refresh=REFRESH_SECONDS if pending and checkout == "done" else None,
            **common,
        )

    def page_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        status = exc.status_code if 400 <= exc.status_code < 500 else 500
        if status == 500:
            log.error("HTTP %s on %s %s: %s", exc.status_code, request.method, request.url.path, exc.detail)
        return message(status, HTTPStatus(status).phrase, "This page cannot be shown.")

    return Router(
        PORTAL_SITES,
        route_handlers=[page],
        exception_handlers={HTTPException: page_error},
        include_in_schema=False,
    )


def _day(value: dt.datetime | None) -> str | None:
    """A date as the page shows it: ``March 5, 2026`` (UTC)."""
    if value is None:
        return None
    day = value.astimezone(dt.UTC)
    return f"{day:%B} {day.day}, {day.year}"


def _title(checkout: str, status: SubscriptionState, *, charged: bool = True) -> str:
    done = checkout == "done"
    match status:
        case SubscriptionState.ACTIVE:
            return "Payment received" if done and charged else "Your subscription is active"
        case SubscriptionState.PAST_DUE:
            return "A payment failed"
        case SubscriptionState.PENDING:
            return "Waiting for your payment" if done else "Checkout cancelled"
        case SubscriptionState.EXPIRED:
            return "This checkout has expired" if done else "Checkout cancelled"
        case SubscriptionState.PAUSED:
            return "Your subscription is paused"
        case SubscriptionState.CANCELLED:
            return "Your subscription is cancelled"
        case _:
            return "The subscription did not start"
