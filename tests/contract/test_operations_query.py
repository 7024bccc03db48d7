"""The OperationsQuery port (what /metrics reads): the fake and the SQL adapter on SQLite and
PostgreSQL give the same snapshot of the same data."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs
from contract_support import Backend

from webmagic_adapters.sqlalchemy.monitoring import SqlOperationsQuery
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.lifecycle import Trigger
from webmagic_core.money import Money
from webmagic_core.monitoring import OperationsQuery, OperationsSnapshot
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.payments.subscriptions import Subscription, SubscriptionState
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome
from webmagic_core.sites import Actor, Site
from webmagic_core.testing import FakeUnitOfWorkFactory
from webmagic_core.testing.monitoring import FakeOperationsQuery

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def query_for(backend: Backend) -> OperationsQuery:
    if backend.database is not None:
        return SqlOperationsQuery(backend.database)
    fake = backend.uow
    assert isinstance(fake, FakeUnitOfWorkFactory)
    return FakeOperationsQuery(fake)


def mail(n: int, status: OutboxStatus, queued: dt.datetime) -> OutboxMessage:
    message = EmailMessage(
        id=uuid.uuid4(),
        to=f"owner{n}@example.com",
        subject="Hello",
        text="Hi",
        html="<p>Hi</p>",
        template=EmailTemplate.VERIFY_EMAIL,
    )
    return attrs.evolve(OutboxMessage.pending(message, queued), status=status)


def test_an_empty_database(backend: Backend) -> None:
    assert query_for(backend).snapshot() == OperationsSnapshot(
        outbox_pending=0,
        outbox_dead=0,
        oldest_pending_since=None,
        sites_by_status={},
        subscriptions_by_status={},
        webhooks_by_outcome={},
        open_anomalies=0,
    )


def test_every_figure_counts_what_it_says(backend: Backend) -> None:
    owner = Customer.new(email="rosa@example.com", now=T0)
    previews = [
        Site.new_preview(slug=f"p-{n}", business_name="P", now=T0, actor=Actor.ADMIN, cause="t")
        for n in range(3)
    ]
    sold = Site.new_preview(slug="sold", business_name="S", now=T0, actor=Actor.ADMIN, cause="t")
    sold.sell(owner.id, cause="paid", actor=Actor.WEBHOOK, at=T0)
    gone = Site.new_preview(slug="gone", business_name="G", now=T0, actor=Actor.ADMIN, cause="t")
    gone.apply(Trigger.ARCHIVED, cause="t", actor=Actor.ADMIN, at=T0)
    subscriptions = [
        attrs.evolve(
            Subscription.new(site_id=sold.id, customer_id=owner.id, amount=Money(9500, "USD"), now=T0),
            status=status,
        )
        for status in (SubscriptionState.ACTIVE, SubscriptionState.EXPIRED, SubscriptionState.EXPIRED)
    ]
    processed = WebhookEvent(id="msg_1", event_type="x", body="{}", received_at=T0)
    processed.record(WebhookOutcome.PROCESSED, T0)
    ignored = WebhookEvent(id="msg_2", event_type="x", body="{}", received_at=T0)
    ignored.record(WebhookOutcome.IGNORED, T0)
    waiting = WebhookEvent(id="msg_3", event_type="x", body="{}", received_at=T0)
    anomalies = [
        Anomaly.new(AnomalyKind.DOUBLE_SALE, "double_sale:1", "s", "d", T0),
        attrs.evolve(
            Anomaly.new(AnomalyKind.AMOUNT_MISMATCH, "amount_mismatch:1", "s", "d", T0),
            resolved_at=T0,
            resolution="refunded",
        ),
    ]
    with backend.uow() as work:
        work.customers.add(owner)
        for site in [*previews, sold, gone]:
            work.sites.add(site)
        for subscription in subscriptions:
            work.subscriptions.add(subscription)
        work.outbox.add(mail(1, OutboxStatus.PENDING, T0 + dt.timedelta(minutes=5)))
        work.outbox.add(mail(2, OutboxStatus.PENDING, T0 + dt.timedelta(minutes=1)))
        work.outbox.add(mail(3, OutboxStatus.SENT, T0))
        work.outbox.add(mail(4, OutboxStatus.DEAD, T0 - dt.timedelta(days=1)))
        for event in (processed, ignored, waiting):
            work.webhook_events.add(event)
        for anomaly in anomalies:
            work.anomalies.add(anomaly)
        work.commit()

    assert query_for(backend).snapshot() == OperationsSnapshot(
        outbox_pending=2,
        outbox_dead=1,
        oldest_pending_since=T0 + dt.timedelta(minutes=1),  # the sent and dead ones do not wait
        sites_by_status={"preview": 3, "owned": 1, "archived": 1},
        subscriptions_by_status={"active": 1, "expired": 2},
        webhooks_by_outcome={"processed": 1, "ignored": 1, "pending": 1},
        open_anomalies=1,
    )


def test_edits_are_counted_by_status(backend: Backend) -> None:
    from webmagic_adapters.sqlalchemy.edits_repository import SqlAlchemyEditUnitOfWork
    from webmagic_core.edits.model import EditRequest
    from webmagic_core.testing.edits import FakeEditUnitOfWork

    owner = Customer.new(email="owner@example.com", now=T0)
    site = Site.new_preview(slug="bakery", business_name="Bakery", now=T0, actor=Actor.ADMIN, cause="t")
    site.sell(owner.id, cause="t", actor=Actor.SYSTEM, at=T0)
    edits = [
        EditRequest.new(site_id=site.id, customer_id=owner.id, instructions=f"e{n}", now=T0) for n in range(3)
    ]
    edits[0].reject(T0)
    if backend.database is not None:
        work: FakeEditUnitOfWork | SqlAlchemyEditUnitOfWork = backend.database.unit_of_work_of(
            SqlAlchemyEditUnitOfWork
        )
    else:
        fake = backend.uow
        assert isinstance(fake, FakeUnitOfWorkFactory)
        work = FakeEditUnitOfWork(store=fake.store)
    with work:
        work.customers.add(owner)
        work.sites.add(site)
        for edit in edits:
            work.edits.add(edit)
        work.commit()
    assert query_for(backend).snapshot().edits_by_status == {"pending": 2, "rejected": 1}
