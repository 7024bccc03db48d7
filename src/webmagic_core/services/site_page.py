"""The portal's site page, read in one unit of work (``SitePageQuery``): the session check,
the site and its history, subscription, payments, versions, edit requests and custom domain.

The rules the page needs from the core stay here: who may see the site (its owner, and
only while it is not archived: anyone else gets the same ``NotFound``), whether the access
token still holds (``session_holds``, as ``AccountService.authenticate``) and which
subscription is the current one (``current_subscription``)."""

from __future__ import annotations

import uuid

import attrs

from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import NotFound, Unauthenticated
from webmagic_core.ports import Clock, SitePageQuery, SitePageRows, SiteRow
from webmagic_core.services.accounts import ACCESS_REVOKED, session_holds
from webmagic_core.services.subscriptions import SubscriptionView, current_subscription


@attrs.frozen
class SitePage:
    customer: Customer
    site: SiteRow
    rows: SitePageRows
    # The current subscription. Its ``payments`` are left empty: the page lists
    # ``rows.payments`` (every subscription's, as plain rows).
    subscription: SubscriptionView | None


@attrs.define
class SitePageService:
    query: SitePageQuery
    clock: Clock

    def signed_in(
        self, slug: str, *, customer_id: uuid.UUID, token_version: int, login_id: uuid.UUID
    ) -> SitePage:
        """The page for the holder of an access token: ``Unauthenticated`` when the token
        no longer holds (checked before anything about the site is said), ``NotFound``
        for anyone else's site."""
        rows = self.query.read(customer_id, login_id, slug)
        customer = rows.customer
        if customer is None or not session_holds(customer, token_version, rows.login_live):
            raise Unauthenticated(ACCESS_REVOKED)
        return self._page(customer, slug, rows)

    def for_customer(self, customer: Customer, slug: str) -> SitePage:
        """The page for a customer whose session was checked already."""
        return self._page(customer, slug, self.query.read(customer.id, None, slug))

    def _page(self, customer: Customer, slug: str, rows: SitePageRows) -> SitePage:
        if rows.site is None:
            raise NotFound(f"no site has the slug {slug!r}")
        current = current_subscription(rows.subscriptions, self.clock.now())
        return SitePage(
            customer=customer,
            site=rows.site,
            rows=rows,
            subscription=SubscriptionView(rows.site.slug, current, ()) if current is not None else None,
        )
