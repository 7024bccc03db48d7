"""The CustomerAdminRepository port (operators' queries about accounts) and the new
account columns: one suite, run on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from contract_support import open_database

from webmagic_adapters.sqlalchemy.customer_admin_repository import customer_admin_units_of_work
from webmagic_core.accounts.admin import (
    AccountEvent,
    AccountEventKind,
    AccountStatus,
    CustomerAdminUnitOfWork,
)
from webmagic_core.accounts.customers import Customer, RefreshSession
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.money import Money
from webmagic_core.outbox import OutboxMessage, OutboxStatus
from webmagic_core.payments.purchases import Purchase
from webmagic_core.sites import Actor, Site
from webmagic_core.testing.customers import FakeCustomerAdminUnitOfWorkFactory

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
Factory = Callable[[], CustomerAdminUnitOfWork]


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    if request.param == "fake":
        return FakeCustomerAdminUnitOfWorkFactory()
    return customer_admin_units_of_work(open_database(request, request.param, tmp_path))


def customer(email: str, minutes: int = 0, **changes: Any) -> Customer:
    made = Customer.new(email=email, now=T0 + dt.timedelta(minutes=minutes), password_hash="fake$4$00$abc")
    return attrs.evolve(made, **changes)


def store(uow: Factory, *customers: Customer) -> None:
    with uow() as work:
        for c in customers:
            work.customers.add(c)
        work.commit()


def test_the_new_account_columns_read_back_equal(uow: Factory) -> None:
    full = customer(
        "rosa@example.com",
        deactivated_at=T0 + dt.timedelta(days=1),
        last_login_at=T0 + dt.timedelta(hours=3),
        last_login_address="2001:db8::1",
        failed_logins=7,
        last_failed_login_at=T0 + dt.timedelta(hours=2),
        password_link_serial=2,
        verify_link_serial=5,
    )
    plain = customer("ana@example.com")
    store(uow, full, plain)
    with uow() as work:
        assert work.customers.get(full.id) == full
        assert work.customers.get(plain.id) == plain
        changed = attrs.evolve(full, deactivated_at=None, failed_logins=0, last_login_address=None)
        work.customers.save(changed)
        work.commit()
    with uow() as work:
        assert work.customers.get(full.id) == changed


def test_list_is_newest_first_with_search_status_and_pages(uow: Factory) -> None:
    ana = customer("ana@example.com", 1, full_name="Ana Bakery", email_verified_at=T0)
    bruno = customer("bruno@example.com", 2, full_name="Bruno 100%_Plumbing", email_verified_at=T0)
    carla = customer("carla@example.com", 3)
    dora = customer("DORA.x@example.com".lower(), 4, email_verified_at=T0, deactivated_at=T0)
    store(uow, ana, bruno, carla, dora)
    with uow() as work:
        repo = work.customer_admin
        assert [c.email for c in repo.list(limit=10)] == [dora.email, carla.email, bruno.email, ana.email]
        assert [c.id for c in repo.list(limit=2, offset=1)] == [carla.id, bruno.id]
        assert repo.list(limit=10, offset=4) == []
        assert [c.id for c in repo.list(search="bakery", limit=10)] == [ana.id]
        assert [c.id for c in repo.list(search="bruno@", limit=10)] == [bruno.id]
        # LIKE wildcards in the search are plain characters.
        assert [c.id for c in repo.list(search="100%_", limit=10)] == [bruno.id]
        assert [c.id for c in repo.list(search="%", limit=10)] == [bruno.id]
        assert repo.list(search="n_", limit=10) == []  # as a wildcard it would match "ana", "bruno"
        assert [c.id for c in repo.list(status=AccountStatus.ACTIVE, limit=10)] == [bruno.id, ana.id]
        assert [c.id for c in repo.list(status=AccountStatus.INACTIVE, limit=10)] == [dora.id]
        assert [c.id for c in repo.list(status=AccountStatus.UNVERIFIED, limit=10)] == [carla.id]
        assert repo.count() == 4
        assert repo.count(search="example", status=AccountStatus.ACTIVE) == 2
        assert repo.count(search="nobody") == 0
        assert repo.list(limit=10)[0] == dora


def test_events_are_kept_oldest_first_per_account_and_roll_back_with_the_rest(uow: Factory) -> None:
    rosa, ana = customer("rosa@example.com"), customer("ana@example.com")
    store(uow, rosa, ana)
    later = AccountEvent.new(
        rosa.id, AccountEventKind.REACTIVATED, "back", Actor.ADMIN, T0 + dt.timedelta(hours=1)
    )
    earlier = AccountEvent.new(rosa.id, AccountEventKind.DEACTIVATED, "reason: fraud", Actor.ADMIN, T0)
    other = AccountEvent.new(ana.id, AccountEventKind.LINK_SENT, "link", Actor.ADMIN, T0)
    with uow() as work:
        for event in (later, earlier, other):
            work.customer_admin.add_event(event)
        work.commit()
    with uow() as work:
        work.customer_admin.add_event(
            AccountEvent.new(rosa.id, AccountEventKind.LINK_SENT, "x", Actor.ADMIN, T0)
        )
        # no commit: rolled back
    with uow() as work:
        assert work.customer_admin.events(rosa.id) == [earlier, later]
        assert work.customer_admin.events(ana.id) == [other]
        assert work.customer_admin.events(uuid.uuid4()) == []


def test_live_logins_are_the_families_that_can_still_be_refreshed(uow: Factory) -> None:
    rosa, ana = customer("rosa@example.com"), customer("ana@example.com")
    store(uow, rosa, ana)
    now = T0 + dt.timedelta(days=1)
    open_first, _ = RefreshSession.issue(customer_id=rosa.id, now=T0)
    open_first.used_at = T0 + dt.timedelta(hours=1)
    open_next, _ = RefreshSession.issue(
        customer_id=rosa.id, now=T0 + dt.timedelta(hours=1), family_id=open_first.family_id
    )
    revoked, _ = RefreshSession.issue(customer_id=rosa.id, now=T0)
    revoked.revoked_at = T0
    # One revoked token ends its login (as ``login_live`` says), even beside a usable one.
    after_revoked, _ = RefreshSession.issue(customer_id=rosa.id, now=T0, family_id=revoked.family_id)
    expired, _ = RefreshSession.issue(customer_id=rosa.id, now=now - dt.timedelta(days=40))
    newer, _ = RefreshSession.issue(customer_id=rosa.id, now=T0 + dt.timedelta(hours=5))
    anas, _ = RefreshSession.issue(customer_id=ana.id, now=T0)
    with uow() as work:
        for session in (open_first, open_next, revoked, after_revoked, expired, newer, anas):
            work.refresh_sessions.add(session)
        work.commit()
    with uow() as work:
        logins = work.customer_admin.live_logins(rosa.id, now)
    assert [login.login_id for login in logins] == [newer.family_id, open_first.family_id]
    with uow() as work:
        assert not work.refresh_sessions.login_live(revoked.family_id)
    family = logins[1]
    assert family.started_at == T0
    assert family.last_refreshed_at == T0 + dt.timedelta(hours=1)
    assert family.expires_at == open_next.expires_at
    with uow() as work:
        work.refresh_sessions.revoke_customer(rosa.id, now)
        work.commit()
    with uow() as work:
        assert work.customer_admin.live_logins(rosa.id, now) == []
        assert len(work.customer_admin.live_logins(ana.id, now)) == 1


def test_purchases_and_emails_of_an_account(uow: Factory) -> None:
    rosa = customer("rosa@example.com")
    store(uow, rosa)
    site = Site.new_preview(slug="sunrise", business_name="Sunrise", now=T0, actor=Actor.ADMIN, cause="t")
    mine = Purchase.new(
        site_id=site.id, amount=Money(100, "GTQ"), buyer_email=rosa.email, now=T0, customer_id=rosa.id
    )
    anonymous = Purchase.new(site_id=site.id, amount=Money(100, "GTQ"), buyer_email="x@example.com", now=T0)

    def mail(to: str, minutes: int, status: OutboxStatus) -> OutboxMessage:
        message = EmailMessage(
            id=uuid.uuid4(),
            to=to,
            subject="s",
            text="t",
            html="<p>t</p>",
            template=EmailTemplate.VERIFY_EMAIL,
        )
        at = T0 + dt.timedelta(minutes=minutes)
        return OutboxMessage(message=message, status=status, attempts=1, created_at=at, next_attempt_at=at)

    first, second = mail(rosa.email, 1, OutboxStatus.SENT), mail(rosa.email, 2, OutboxStatus.DEAD)
    with uow() as work:
        work.sites.add(site)
        work.purchases.add(mine)
        work.purchases.add(anonymous)
        for item in (first, second, mail("other@example.com", 3, OutboxStatus.PENDING)):
            work.outbox.add(item)
        work.commit()
    with uow() as work:
        assert [p.id for p in work.customer_admin.purchases(rosa.id)] == [mine.id]
        assert work.customer_admin.subscriptions(rosa.id) == []
        emails = work.customer_admin.emails(rosa.email)
        assert [(e.id, e.status) for e in emails] == [
            (second.id, OutboxStatus.DEAD),
            (first.id, OutboxStatus.SENT),
        ]
        assert emails[0].template == "verify_email"
        assert [e.id for e in work.customer_admin.emails(rosa.email, limit=1)] == [second.id]


def test_forget_login_addresses_clears_only_the_old_ones(uow: Factory) -> None:
    old = customer("old@example.com", last_login_at=T0, last_login_address="192.0.2.1")
    recent = customer(
        "new@example.com", last_login_at=T0 + dt.timedelta(days=2), last_login_address="192.0.2.2"
    )
    store(uow, old, recent)
    with uow() as work:
        assert work.customer_admin.forget_login_addresses(T0 + dt.timedelta(days=1)) == 1
        work.commit()
    with uow() as work:
        assert work.customers.get(old.id) == attrs.evolve(old, last_login_address=None)
        assert work.customers.get(recent.id) == recent
        assert work.customer_admin.forget_login_addresses(T0 + dt.timedelta(days=1)) == 0
