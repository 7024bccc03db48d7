"""``SitePageQuery`` over the in-memory stores: what the SQL adapter reads, through the fake
repositories (the contract suite runs both)."""

from __future__ import annotations

import uuid

import attrs

from webmagic_core.edits.model import EditStatus
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.ports import (
    EDITS_SHOWN,
    EditRow,
    EventRow,
    PaymentRow,
    SitePageRows,
    SiteRow,
    VersionRow,
)
from webmagic_core.testing.domains import FakeDomainRepository, _DomainStore
from webmagic_core.testing.edits import FakeEditRepository
from webmagic_core.testing.fakes import (
    FakeCustomerRepository,
    FakeRefreshSessionRepository,
    FakeSiteRepository,
    FakeSubscriptionRepository,
    _Store,
)


@attrs.define
class FakeSitePageQuery:
    store: _Store
    domain_store: _DomainStore = attrs.field(factory=_DomainStore)

    def read(self, customer_id: uuid.UUID, login_id: uuid.UUID | None, slug: str) -> SitePageRows:
        customer = FakeCustomerRepository(self.store).get(customer_id)
        live = (
            customer is not None
            and login_id is not None
            and FakeRefreshSessionRepository(self.store).login_live(login_id)
        )
        sites = FakeSiteRepository(self.store)
        site = sites.get_by_slug(slug)
        if site is None or site.owner_id != customer_id or site.status is SiteStatus.ARCHIVED:
            return SitePageRows(customer=customer, login_live=live, site=None)
        subscriptions = FakeSubscriptionRepository(self.store)
        subs = subscriptions.for_site(site.id)
        payments = sorted(
            (p for s in subs for p in subscriptions.payments(s.id)), key=lambda p: p.order_key, reverse=True
        )
        edits = FakeEditRepository(self.store).for_site(site.id, limit=EDITS_SHOWN)
        changed: dict[uuid.UUID, list[str]] = {}
        for edit in edits:
            if edit.status is not EditStatus.READY or edit.base_version is None or not edit.draft_files:
                continue
            base = sites.get_version(site.id, edit.base_version)
            before = {f.path: f.digest for f in base.files} if base is not None else {}
            after = {f.path: f.digest for f in edit.draft_files}
            changed[edit.id] = sorted(
                p for p in before.keys() | after.keys() if before.get(p) != after.get(p)
            )
        return SitePageRows(
            customer=customer,
            login_live=live,
            site=SiteRow(
                site.id, site.slug, site.business_name, site.status, site.purchased_at, site.current_version
            ),
            events=[EventRow(e.occurred_at, e.from_status, e.to_status) for e in sites.events(site.id)],
            versions=[
                VersionRow(v.number, v.created_at, v.cause, v.note, v.restored_from)
                for v in sites.version_summaries(site.id)
            ],
            subscriptions=subs,
            payments=[PaymentRow(p.paid_at, p.amount, p.period_end) for p in payments],
            edits=[
                EditRow(e.id, e.status, e.instructions, e.created_at, e.summary, e.version, e.reason)
                for e in edits
            ],
            changed=changed,
            domain=FakeDomainRepository(self.domain_store).for_site(site.id),
        )
