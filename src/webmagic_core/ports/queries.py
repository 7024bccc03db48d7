"""Read-side queries: the figures of ``webmagic stats``, computed by the database, and the
portal's site page, read in one unit of work."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

import attrs

from webmagic_core.accounts.customers import Customer
from webmagic_core.domains.model import CustomDomain
from webmagic_core.edits.model import EditStatus
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.subscriptions import Subscription, SubscriptionState
from webmagic_core.sites import VersionCause


@attrs.frozen
class SalesFigures:
    """Raw sales counts; ``StatsService`` derives the rest (conversion...). A status
    with no rows may be absent from the mappings."""

    sites_by_status: Mapping[SiteStatus, int]
    purchases_by_status: Mapping[PurchaseStatus, int]
    # Sum of the amounts of paid purchases, per currency code, in cents.
    revenue_by_currency: Mapping[str, int]
    # Distinct sites with at least one paid purchase (whatever their status now).
    sites_purchased: int
    open_anomalies: int


@attrs.frozen
class SubscriptionFigures:
    """Raw subscription counts over a window ``(since, now]``; ``StatsService`` derives
    MRR and churn. A status with no rows may be absent from ``by_status``."""

    by_status: Mapping[SubscriptionState, int]
    # Sum of the amounts of the subscriptions whose status is active or past_due, per
    # currency code, in cents.
    monthly_by_currency: Mapping[str, int]
    # Subscribed at the window's start: started_at <= since AND (ended_at IS NULL OR
    # ended_at > since).
    subscribed_at_start: int
    # Of those, the ones that ended within the window: since < ended_at <= now.
    ended_in_window: int


class StatsQuery(Protocol):
    """The read side of ``webmagic stats``: aggregates (COUNT, SUM ... GROUP BY) computed
    by the database, never by loading rows; outside any unit of work."""

    def sales(self) -> SalesFigures: ...

    def subscriptions(self, since: dt.datetime, now: dt.datetime) -> SubscriptionFigures: ...


# --- the portal's site page ---------------------------------------------------------------
#
# The page of one site lists a few hundred values; read through the repositories it cost
# four units of work and a domain object per row. ``SitePageQuery`` reads it in one unit of
# work, the session check included, and gives the many-row sections as plain named tuples.
# The few single rows whose rules the page needs (the customer, the subscriptions, the
# custom domain) stay domain objects.


class SiteRow(NamedTuple):
    id: uuid.UUID
    slug: str
    business_name: str
    status: SiteStatus
    purchased_at: dt.datetime | None
    current_version: int


class EventRow(NamedTuple):
    """A recorded transition (``from_status`` None: the site's creation), oldest first."""

    occurred_at: dt.datetime
    from_status: SiteStatus | None
    to_status: SiteStatus


class VersionRow(NamedTuple):
    """A version without its files, newest first."""

    number: int
    created_at: dt.datetime
    cause: VersionCause
    note: str
    restored_from: int | None


class PaymentRow(NamedTuple):
    """A monthly payment of any subscription of the site, newest first."""

    paid_at: dt.datetime
    amount: Money
    period_end: dt.datetime | None


class EditRow(NamedTuple):
    """An edit request, newest first (the listing's limit: ``EDITS_SHOWN``)."""

    id: uuid.UUID
    status: EditStatus
    instructions: str
    created_at: dt.datetime
    summary: str | None
    version: int | None
    reason: str | None


# As many edit requests as the repositories' ``for_site`` lists by default.
EDITS_SHOWN = 100


@attrs.frozen
class SitePageRows:
    """What ``SitePageQuery.read`` found. ``customer`` and ``login_live`` answer the session
    check (``None``/False: no such customer, or the login has no live token); ``site`` is None
    when the slug names no site of that customer (anyone else's, archived, or none), and the
    sections are then empty. ``changed``: the paths each ready, drafted edit changes against
    its base version, sorted."""

    customer: Customer | None
    login_live: bool
    site: SiteRow | None
    events: Sequence[EventRow] = ()
    versions: Sequence[VersionRow] = ()
    subscriptions: Sequence[Subscription] = ()  # oldest first
    payments: Sequence[PaymentRow] = ()
    edits: Sequence[EditRow] = ()
    changed: Mapping[uuid.UUID, Sequence[str]] = attrs.field(factory=dict)
    domain: CustomDomain | None = None


class SitePageQuery(Protocol):
    """The read side of the portal's site page: everything in one unit of work (one
    connection, one read transaction), never a write."""

    def read(self, customer_id: uuid.UUID, login_id: uuid.UUID | None, slug: str) -> SitePageRows:
        """``login_id`` None: the session is not checked (``login_live`` is False)."""
        ...
