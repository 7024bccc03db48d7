"""``/api/v1/customer/sites``: the signed-in customer's own sites (docs/api.md, "The owner's sites").

- ``GET /api/v1/customer/sites`` → 200 the customer's sites (archived ones left out),
  by slug: ``slug``, ``business_name``, ``status``, ``url``, ``current_version``;
- ``GET /api/v1/customer/sites/{slug}`` → 200 the site in detail: the same, plus when it
  was bought, its current subscription in short (or ``null``), when its included hosting
  ends (an owned site without a subscription), and ``domain`` (its custom domain as in
  ``webmagic_http.custom_domains``, ``null`` when it has none);
- ``GET /api/v1/customer/sites/{slug}/versions`` → 200 its versions, newest first
  (``number``, ``created_at``, ``cause``, ``edit_id``, ``restored_from``, ``current``);
- ``GET /api/v1/customer/sites/{slug}/versions/{number}/diff`` → 200 what that version
  changed against the one before it: ``from``, ``to`` and ``files`` (every file that
  differs: text files with their unified diff and line counts, images and fonts as
  added, removed or changed with their sizes); an unknown number → 404;
- the handlers ``app`` mounts under this router (``mounted``): the subscription
  endpoints of ``webmagic_http.subscriptions``, which share its Bearer guard.

A site is the customer's when ``Site.owner_id`` names them. Another customer's site, a
preview (nobody's yet), an archived or an unknown slug all answer the same 404 here (the
subscription endpoints answer 409 for a preview, as the issue asks). Every handler runs
in the thread pool; the ``customer`` dependency (Bearer token) re-reads the customer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from litestar import Router, get
from litestar.datastructures import CacheControlHeader
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from webmagic_core.errors import NotFound
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.services.accounts import AccountService
from webmagic_core.services.domains import DomainService
from webmagic_core.services.sites import SiteService
from webmagic_core.services.subscriptions import NO_SUBSCRIPTION, SubscriptionService
from webmagic_core.sites import Site
from webmagic_http.api_bodies import (
    DomainBody,
    FileDiffBody,
    SubscriptionSummary,
    VersionSummary,
    domain_body,
    iso,
)
from webmagic_http.auth import AccessTokens, CurrentCustomer, customer_guard
from webmagic_http.common import BEARER_SECURITY, MAX_BODY_BYTES
from webmagic_http.problems import problem_spec

PREFIX = "/api/v1/customer/sites"
TAGS = ["the owner's sites"]
NO_STORE = CacheControlHeader(no_store=True)


class VersionDiffBody(msgspec.Struct, frozen=True, rename={"from_": "from"}):
    from_: int | None  # "from" in JSON: the version before (null for version 1)
    to: int
    files: list[FileDiffBody]


@dataclass(frozen=True, slots=True)
class SiteSummary:
    slug: str
    business_name: str
    status: str  # owned | active | past_due | suspended (lifecycle.SiteStatus)
    url: str  # where the site is served
    current_version: int


@dataclass(frozen=True, slots=True)
class SiteDetail:
    slug: str
    business_name: str
    status: str
    url: str
    current_version: int
    purchased_at: str | None
    # An owned site without a subscription is served until then (null otherwise).
    included_hosting_ends_at: str | None
    subscription: SubscriptionSummary | None
    domain: DomainBody | None  # the custom domain (null when none)


def customer_site_routes(
    sites: SiteService,
    subscriptions: SubscriptionService,
    accounts: AccountService,
    tokens: AccessTokens,
    domains: DomainService | None = None,
    mounted: Sequence[HTTPRouteHandler] = (),
) -> Router:
    config = subscriptions.config
    unauthenticated = problem_spec("The access token is missing, expired, tampered with or revoked")
    not_found = problem_spec("No site of this customer has this slug")

    def summary(site: Site) -> SiteSummary:
        return SiteSummary(
            slug=site.slug,
            business_name=site.business_name,
            status=site.status.value,
            url=config.site_url(site.slug),
            current_version=site.current_version,
        )

    def included_hosting_end(site: Site) -> dt.datetime | None:
        if site.status is not SiteStatus.OWNED or site.purchased_at is None:
            return None
        return config.included_hosting_end(site.purchased_at)

    @get(
        "/",
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="The signed-in customer's sites",
        responses={401: unauthenticated},
    )
    def list_sites(customer: CurrentCustomer) -> list[SiteSummary]:
        return [summary(site) for site in sites.owned_by(customer.id)]

    @get(
        "/{slug:str}",
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="One of the customer's sites: status, current version, subscription, domain",
        responses={401: unauthenticated, 404: not_found},
    )
    def site_detail(customer: CurrentCustomer, slug: FromPath[str]) -> SiteDetail:
        site = sites.owned_site(customer.id, slug)  # NotFound for anyone else's site
        try:
            current = SubscriptionSummary.of(subscriptions.get(customer.id, slug))
        except NotFound as error:
            if error.detail != NO_SUBSCRIPTION:
                raise  # the site went away meanwhile
            current = None
        base = summary(site)
        custom = domains.for_site(site.id) if domains is not None else None
        return SiteDetail(
            slug=base.slug,
            business_name=base.business_name,
            status=base.status,
            url=base.url,
            current_version=base.current_version,
            purchased_at=iso(site.purchased_at),
            included_hosting_ends_at=iso(included_hosting_end(site)),
            subscription=current,
            domain=domain_body(custom, domains.config.cnames_to) if custom is not None and domains else None,
        )

    @get(
        "/{slug:str}/versions",
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="The site's versions, newest first (every version is kept)",
        responses={401: unauthenticated, 404: not_found},
    )
    def versions(customer: CurrentCustomer, slug: FromPath[str]) -> list[VersionSummary]:
        history = sites.owned_versions(customer.id, slug)  # newest first
        current = history.site.current_version
        return [VersionSummary.of(version, current) for version in history.versions]

    @get(
        "/{slug:str}/versions/{number:int}/diff",
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="What a version changed against the one before it, file by file",
        responses={401: unauthenticated, 404: not_found},
    )
    def version_diff(
        customer: CurrentCustomer, slug: FromPath[str], number: FromPath[int]
    ) -> VersionDiffBody:
        diff = sites.owned_version_diff(customer.id, slug, number)  # NotFound for anyone else's site
        return VersionDiffBody(
            from_=diff.from_number,
            to=diff.to_number,
            files=[FileDiffBody.of(f) for f in diff.files],
        )

    return Router(
        PREFIX,
        route_handlers=[
            list_sites,
            site_detail,
            versions,
            version_diff,
            *mounted,
        ],
        dependencies={"customer": customer_guard(accounts, tokens)},
        request_max_body_size=MAX_BODY_BYTES,
        tags=TAGS,
    )
