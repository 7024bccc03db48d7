"""The in-memory store the fake repositories share (one per fake database)."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs

from webmagic_core.accounts.customers import Customer, RefreshSession
from webmagic_core.edits.model import EditRequest
from webmagic_core.outbox import OutboxMessage
from webmagic_core.pages import PageVariant, RenderedPage
from webmagic_core.payments.anomalies import Anomaly
from webmagic_core.payments.purchases import Purchase
from webmagic_core.payments.subscriptions import Notice, Subscription, SubscriptionPayment
from webmagic_core.payments.webhook_log import WebhookEvent
from webmagic_core.sites import Site, SiteEvent, SiteVersion


@attrs.define
class _PublishRow:
    generation: int
    requested_at: dt.datetime
    next_attempt_at: dt.datetime
    attempts: int = 0
    claimed_until: dt.datetime | None = None
    last_error: str | None = None


@attrs.define
class _Store:
    sites: dict[uuid.UUID, Site] = attrs.field(factory=dict)
    versions: dict[tuple[uuid.UUID, int], SiteVersion] = attrs.field(factory=dict)
    blobs: dict[str, bytes] = attrs.field(factory=dict)
    pages: dict[tuple[uuid.UUID, int, PageVariant], RenderedPage] = attrs.field(factory=dict)
    events: list[SiteEvent] = attrs.field(factory=list)
    customers: dict[uuid.UUID, Customer] = attrs.field(factory=dict)
    refresh_sessions: dict[uuid.UUID, RefreshSession] = attrs.field(factory=dict)
    # Insertion order is creation order: ties on created_at keep it, as "oldest first" wants.
    outbox: dict[uuid.UUID, OutboxMessage] = attrs.field(factory=dict)
    purchases: dict[uuid.UUID, Purchase] = attrs.field(factory=dict)
    webhook_events: dict[str, WebhookEvent] = attrs.field(factory=dict)
    anomalies: dict[uuid.UUID, Anomaly] = attrs.field(factory=dict)
    subscriptions: dict[uuid.UUID, Subscription] = attrs.field(factory=dict)
    subscription_payments: dict[str, SubscriptionPayment] = attrs.field(factory=dict)
    notices: dict[str, Notice] = attrs.field(factory=dict)
    edits: dict[uuid.UUID, EditRequest] = attrs.field(factory=dict)
    publish_requests: dict[uuid.UUID, _PublishRow] = attrs.field(factory=dict)


def _detached(site: Site) -> Site:
    return attrs.evolve(site, pending_events=[])
