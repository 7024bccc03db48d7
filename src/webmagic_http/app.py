"""The Litestar application factory.

``create_app()`` with no argument reads the settings from the environment and
bootstraps its own container (``uvicorn --factory webmagic_http.app:create_app``); tests
and the CLI may pass a container they built. Nothing happens at import time.
"""

from __future__ import annotations

import datetime as dt
import gc
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import attrs
from litestar import Litestar, Router
from litestar.middleware import DefineMiddleware

from webmagic_adapters.bootstrap import Container, bootstrap, load_settings
from webmagic_core.money import Money
from webmagic_http.accounts import account_routes
from webmagic_http.activity import RequestActivity
from webmagic_http.auth import AccessTokens, csrf_protection
from webmagic_http.custom_domains import custom_domain_routes
from webmagic_http.customer_edits import edit_routes
from webmagic_http.customer_sites import customer_site_routes
from webmagic_http.docs_ui import docs_assets_router, openapi_config
from webmagic_http.domain_hosting import CustomDomainHosts, is_loopback_url, tls_ask_route
from webmagic_http.domain_task import domain_check_lifespan
from webmagic_http.draft_preview import draft_preview_routes
from webmagic_http.edit_task import edit_worker_lifespan
from webmagic_http.head import WebMagicApp
from webmagic_http.health import health_routes
from webmagic_http.hosting import hosting_routes
from webmagic_http.hosts import HostSplitMiddleware
from webmagic_http.lanes import PasswordLane
from webmagic_http.metrics import OperationsCollector, metrics_route, prometheus_config
from webmagic_http.outbox_task import relay_lifespan
from webmagic_http.page_cache import PageCache
from webmagic_http.portal import CSRF_COOKIE, CSRF_KEY_LABEL, MAX_FORM_BYTES, PAGE_ERRORS, link_handlers
from webmagic_http.portal_domain import domain_handlers
from webmagic_http.portal_edits import edit_handlers
from webmagic_http.portal_owner import owner_handlers
from webmagic_http.portal_pages import PREFIX, core_error_status, page, template_config
from webmagic_http.portal_session import PortalSessions, renewed_session_cookies
from webmagic_http.portal_signin import signin_handlers
from webmagic_http.portal_versions import version_handlers
from webmagic_http.problems import exception_handlers
from webmagic_http.publish_task import publish_lifespan
from webmagic_http.purchases import PurchaseOffer, purchase_api_routes, purchase_pages
from webmagic_http.sandbox import HttpDelivery, WebhookDelivery, sandbox_pages
from webmagic_http.site_hosting import Hosting, HostingFastPath
from webmagic_http.site_info import site_info_routes
from webmagic_http.slug_guard import refuse_impossible_slugs
from webmagic_http.subscriptions import subscription_handlers, subscription_pages
from webmagic_http.sweep_task import sweep_lifespan
from webmagic_http.webhooks import WebhookFastPath, webhook_routes
from webmagic_http.well_known import well_known_routes


def _version() -> str:
    try:
        return metadata.version("webmagic")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _freeze_startup_objects() -> None:
    """Move what the process built to start (modules, the app, its routes, the engine: some
    hundred thousand objects that live as long as it does) out of the cyclic garbage
    collector's reach. Otherwise every full collection walks them all, a pause of 100-200 ms
    on a small machine that stalls every request in flight: the slowest percent of page
    times. Only for an app that owns its container (a served process); tests build many."""
    gc.collect()
    gc.freeze()


def portal_router(
    container: Container, lane: PasswordLane, tokens: AccessTokens, *, secure_cookie: bool, offload: bool
) -> Router:
    """The customer portal (``webmagic_http.portal``): its route modules side by side under
    ``/portal``, with the session cookies, CSRF protection and error pages of its own."""
    accounts, sites = container.accounts, container.sites
    sessions = PortalSessions(accounts, tokens, secure_cookie)
    owner = owner_handlers(
        accounts=accounts,
        sites=sites,
        subscriptions=container.subscriptions,
        site_pages=container.site_pages,
        domains=container.domains,
        edits=container.edits,
        sessions=sessions,
        lane=lane,
        page=page,
        offload=offload,
    )
    handlers = [
        *link_handlers(accounts, lane),
        *signin_handlers(accounts, sessions, lane, page),
        *owner.handlers,
        # The site page's sections' forms show the site page again when the core refuses.
        *domain_handlers(
            domains=container.domains,
            sites=sites,
            customer_of=sessions.customer,
            site_page=owner.site_page,
            core_error_status=core_error_status,
        ),
        *version_handlers(sites=sites, customer_of=sessions.customer, page=page),
        *edit_handlers(
            edits=container.edits,
            sites=sites,
            customer_of=sessions.customer,
            site_page=owner.site_page,
            core_error_status=core_error_status,
        ),
    ]
    return Router(
        PREFIX,
        route_handlers=handlers,
        middleware=[
            renewed_session_cookies,
            csrf_protection(
                container.keys, label=CSRF_KEY_LABEL, cookie=CSRF_COOKIE, path=PREFIX, secure=secure_cookie
            ),
        ],
        exception_handlers=PAGE_ERRORS,
        request_max_body_size=MAX_FORM_BYTES,
        include_in_schema=False,
    )


def create_app(
    container: Container | None = None, *, sandbox_delivery: WebhookDelivery | None = None
) -> Litestar:
    """Build the app. A container passed in stays the caller's to close; one built here
    is closed when the app shuts down, and while the app runs its outbox relay sends the
    queued mail in the background (``WEBMAGIC_OUTBOX_INTERVAL_SECONDS``; 0 turns it off)
    and the lifecycle sweep runs periodically (``WEBMAGIC_SWEEP_INTERVAL_SECONDS``; 0 turns
    it off).

    With sandbox payments the app also serves the sandbox checkout page, which delivers
    its webhooks with ``sandbox_delivery`` (default: over HTTP to the public URL)."""
    owned = container is None
    if container is None:
        container = bootstrap(load_settings())
    settings = container.settings
    price = Money(settings.site_price_cents, settings.currency)

    # SQLite reads are local and fast: run database calls inline on the event loop;
    # anything over a network goes to the thread pool (see webmagic_http.site_hosting).
    offload = container.database.dialect_name != "sqlite"

    # Sites on a host of their own (WEBMAGIC_SITES_BASE_URL or _DOMAIN): each route
    # answers only on its side (webmagic_http.hosts). Otherwise sites share the portal's
    # host, and so its origin: they are served sandboxed (webmagic_http.site_responses).
    sites_host = settings.sites_host
    hosting = Hosting(
        container.sites,
        PageCache[Any](settings.page_cache_budget),
        banner=container.banner,
        sandboxed=sites_host is None,
        # On SQLite the database is a local file already: reading a page from it costs what
        # reading the disk copy costs (~14 µs, measured), without the digest check.
        bodies=container.page_bodies if offload else None,
    )
    keys = container.keys
    tokens = AccessTokens.from_keyring(
        keys, container.clock, dt.timedelta(minutes=settings.access_token_minutes)
    )
    lane = PasswordLane()
    secure_cookie = settings.public_url.startswith("https://")
    offer = PurchaseOffer(
        price=price,
        monthly=Money(settings.subscription_price_cents, settings.currency),
        hosting_days=settings.owned_hosting_days,
    )
    sandbox = container.sandbox
    payment_pages = [
        purchase_pages(container.sites, container.purchases, offer, keys=keys, secure_cookie=secure_cookie)
    ]
    if sandbox is not None:  # never with real payments: /sandbox is then a 404 like any unknown page
        payment_pages.append(
            sandbox_pages(
                sandbox,
                sandbox_delivery or HttpDelivery.to(settings.public_url),
                keys=keys,
                secure_cookie=secure_cookie,
            )
        )
    middleware = [prometheus_config().middleware]
    # The in-process relay sends mail between requests rather than during them (activity.py).
    activity = RequestActivity()
    relay = attrs.evolve(container.relay, pace=activity.give_way)
    if sites_host:
        middleware.append(DefineMiddleware(HostSplitMiddleware, sites_domain=sites_host))
    app = WebMagicApp(
        route_handlers=[
            *health_routes(container.database.ready),
            *well_known_routes(),
            metrics_route(
                OperationsCollector(container.operations, container.clock),
                lambda: settings.metrics_token.get_secret_value() if settings.metrics_token else None,
            ),
            docs_assets_router(),
            *site_info_routes(
                container.sites, price, offload=offload, held_until=container.purchases.held_until
            ),
            purchase_api_routes(container.purchases, container.accounts, tokens),
            *webhook_routes(container.verifier, container.webhooks),
            account_routes(container.accounts, tokens, lane),
            customer_site_routes(
                container.sites,
                container.subscriptions,
                container.accounts,
                tokens,
                container.domains,
                mounted=subscription_handlers(container.subscriptions),
            ),
            portal_router(container, lane, tokens, secure_cookie=secure_cookie, offload=offload),
            *payment_pages,
            subscription_pages(container.sites, container.subscriptions),
            *hosting_routes(hosting, offload=offload),
            # Custom domains (phase 5).
            custom_domain_routes(container.domains, container.accounts, tokens),
            # Edits (phase 4).
            edit_routes(container.edits, container.accounts, tokens),
            *draft_preview_routes(
                container.edits,
                container.sites,
                container.rewriter,
                offload=offload,
                sandboxed=sites_host is None,
            ),
            tls_ask_route(container.domains, offload=offload),
        ],
        exception_handlers=exception_handlers(sites_host),
        before_request=refuse_impossible_slugs,
        middleware=middleware,
        openapi_config=openapi_config(_version()),
        template_config=template_config(),
        lifespan=[
            relay_lifespan(relay, settings.outbox_interval_seconds),
            sweep_lifespan(container.sweep, settings.sweep_interval_seconds),
            domain_check_lifespan(container.domains, settings.domain_check_interval_seconds),
            edit_worker_lifespan(container.edits, settings.edit_worker_interval_seconds),
            publish_lifespan(
                container.publishing, container.database.publish_doorbell, settings.publish_interval_seconds
            ),
        ]
        if owned
        else [],
        on_startup=[_freeze_startup_objects] if owned else [],
        on_shutdown=[container.close] if owned else [],
        # Logging stays the host process's business (the CLI or the ASGI server configures it).
        logging_config=None,
    )
    # Custom domains: requests by an owner's domain are answered in front of the routing.
    app.asgi_handler = CustomDomainHosts(
        app.asgi_handler,
        directory=container.host_directory,
        hosting=hosting,
        own_hosts=container.domains.config.own_hosts,
        offload=offload,
        strict=not is_loopback_url(settings.public_url),
    )
    # Hosted pages in front of Litestar (webmagic_http.site_hosting.HostingFastPath): on a host
    # of our own that the custom-domain wrapper lets through and the host split routes to
    # the sites; never for a name another route starts with.
    # Our names, and the public URL's host even when it is an IP address (which the
    # custom-domain wrapper lets through too); any other host goes the routed way.
    public_host = (urlsplit(settings.public_url).hostname or "").lower()
    own = frozenset({*container.domains.config.own_hosts, "localhost", public_host} - {""})
    app.fast_path = HostingFastPath(
        hosting,
        hosts=frozenset({sites_host}) & own if sites_host else own,
        taken=frozenset(route.path.split("/")[1] for route in app.routes if not route.path.startswith("/{")),
        offload=offload,
    )
    # Deliveries from the payment provider, on any host of ours but the sites' own.
    app.webhook_path = WebhookFastPath(container.verifier, container.webhooks, hosts=own - {sites_host})
    app.activity = activity
    app.state.container = container
    app.state.page_cache = hosting.cache
    return app
