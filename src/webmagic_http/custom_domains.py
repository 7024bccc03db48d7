"""``/api/v1/customer/sites/{slug}/domain``: the owner's custom domain (docs/api.md "Custom domain").

- ``PUT`` ``{"domain"}`` -> 201 the domain (``pending``; the same name again keeps it as it
  is); 400 for a name that cannot be used (the reason named), 409 when another site holds
  it or the site is not owned/active/past due;
- ``POST .../domain/verify`` -> 200 the domain after a DNS lookup done now;
- ``GET`` -> 200 the domain, 404 none; ``DELETE`` -> 204, no longer served from the next request.

Every handler runs in the thread pool (database, and DNS for verify).
"""

from __future__ import annotations

import attrs
from litestar import Router, delete, get, post, put
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, RawBody

from webmagic_core.services.accounts import AccountService
from webmagic_core.services.domains import DomainService
from webmagic_http.api_bodies import DomainBody, domain_body
from webmagic_http.auth import AccessTokens, CurrentCustomer, customer_guard
from webmagic_http.boundary import json_body, parse
from webmagic_http.common import BEARER_SECURITY, MAX_BODY_BYTES
from webmagic_http.problems import problem_spec

PREFIX = "/api/v1/customer/sites"
NO_STORE = CacheControlHeader(no_store=True)


@attrs.define
class DomainRequest:
    domain: str


def custom_domain_routes(domains: DomainService, accounts: AccountService, tokens: AccessTokens) -> Router:
    cnames_to = domains.config.cnames_to
    unauthenticated = problem_spec("The access token is missing, expired, tampered with or revoked")
    not_found = problem_spec("No site of this customer has this slug, or the site has no custom domain")
    conflict = problem_spec("Another site holds the name, or the site is not owned, active or past due")

    @put(
        "/{slug:str}/domain",
        status_code=201,
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        operation_class=json_body(DomainRequest),
        summary="Attach a custom domain to the site (replacing any other)",
        responses={
            400: problem_spec("The name cannot be used (the reason is named)"),
            401: unauthenticated,
            404: not_found,
            409: conflict,
        },
    )
    def attach(customer: CurrentCustomer, slug: FromPath[str], body: RawBody) -> DomainBody:
        request = parse(body, DomainRequest)
        return domain_body(domains.attach(customer.id, slug, request.domain), cnames_to)

    @get(
        "/{slug:str}/domain",
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="The site's custom domain, the DNS records to create and its status",
        responses={401: unauthenticated, 404: not_found},
    )
    def show(customer: CurrentCustomer, slug: FromPath[str]) -> DomainBody:
        return domain_body(domains.get(customer.id, slug), cnames_to)

    @post(
        "/{slug:str}/domain/verify",
        status_code=200,
        sync_to_thread=True,
        cache_control=NO_STORE,
        security=BEARER_SECURITY,
        summary="Look the TXT record up now: verified, or still pending with what was found",
        responses={401: unauthenticated, 404: not_found, 409: conflict},
    )
    def verify(customer: CurrentCustomer, slug: FromPath[str]) -> DomainBody:
        return domain_body(domains.verify(customer.id, slug), cnames_to)

    @delete(
        "/{slug:str}/domain",
        status_code=204,
        sync_to_thread=True,
        security=BEARER_SECURITY,
        summary="Remove the custom domain (no longer served from the next request)",
        responses={401: unauthenticated, 404: not_found},
    )
    def remove(customer: CurrentCustomer, slug: FromPath[str]) -> None:
        domains.remove(customer.id, slug)

    return Router(
        PREFIX,
        route_handlers=[attach, show, verify, remove],
        dependencies={"customer": customer_guard(accounts, tokens)},
        request_max_body_size=MAX_BODY_BYTES,
        tags=["custom domain"],
    )
