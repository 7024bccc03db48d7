"""The SitePageQuery port: ``FakeSitePageQuery`` and ``SqlSitePageQuery`` (SQLite,
PostgreSQL) read the same page for the same data, and ``SitePageService`` applies the
session and ownership rules on top of it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from contract_support import open_database

from webmagic_adapters.sqlalchemy.domains_repository import domain_units_of_work
from webmagic_adapters.sqlalchemy.edits_repository import edit_units_of_work
from webmagic_adapters.sqlalchemy.site_page import SqlSitePageQuery
from webmagic_core.accounts.customers import Customer, RefreshSession
from webmagic_core.domains.model import CustomDomain
from webmagic_core.edits.model import EditRequest, EditStatus
from webmagic_core.edits.ports import EditUnitOfWork
from webmagic_core.errors import NotFound, Unauthenticated
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import Subscription, SubscriptionPayment, SubscriptionState
from webmagic_core.ports import EditRow, EventRow, PaymentRow, SitePageQuery, SitePageRows, VersionRow
from webmagic_core.services.site_page import SitePageService
from webmagic_core.site_files import prepare_files
from webmagic_core.sites import Actor, Site, SiteContent, VersionCause
from webmagic_core.testing import FakeClock
from webmagic_core.testing.domains import FakeDomainRepository
from webmagic_core.testing.edits import FakeEditUnitOfWorkFactory
from webmagic_core.testing.site_page import FakeSitePageQuery
from webmagic_core.testing.sites import new_version

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
MONTHLY = Money(1500, "USD")


@attrs.frozen
class Backend:
    uow: Callable[[], EditUnitOfWork]
    add_domain: Callable[[CustomDomain], None]
    query: SitePageQuery


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "fake":
        fake = FakeEditUnitOfWorkFactory()
        query = FakeSitePageQuery(fake.store)
        yield Backend(fake, FakeDomainRepository(query.domain_store).add, query)
        return
    database = open_database(request, request.param, tmp_path)
    domains = domain_units_of_work(database)

    def add_domain(domain: CustomDomain) -> None:
        with domains() as u:
            u.domains.add(domain)
            u.commit()

    yield Backend(edit_units_of_work(database), add_domain, SqlSitePageQuery(database))


@attrs.frozen
class World:
    rosa: Customer
    juan: Customer
    live_login: uuid.UUID
    ended_login: uuid.UUID
    site: Site
    subscription: Subscription
    edits: dict[str, EditRequest]


def at(days: int) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def fill(backend: Backend) -> World:
    """Rosa's bakery: bought, subscribed, three versions, three payments, an edit request
    in each state the page shows, a custom domain; Juan's shop; Rosa's archived site."""
    rosa, juan = (
        Customer.new(email="rosa@example.com", now=T0),
        Customer.new(email="juan@example.com", now=T0),
    )
    live, _ = RefreshSession.issue(customer_id=rosa.id, now=T0)
    ended, _ = RefreshSession.issue(customer_id=rosa.id, now=T0)
    ended = attrs.evolve(ended, revoked_at=at(1))
    bakery = Site.new_preview(slug="bakery", business_name="Bakery", now=T0, actor=Actor.ADMIN, cause="t")
    bakery.sell(rosa.id, cause="paid", actor=Actor.WEBHOOK, at=at(1))
    bakery.apply(Trigger.SUBSCRIPTION_STARTED, cause="t", actor=Actor.WEBHOOK, at=at(2))
    shop = Site.new_preview(slug="shop", business_name="Shop", now=T0, actor=Actor.ADMIN, cause="t")
    shop.sell(juan.id, cause="paid", actor=Actor.WEBHOOK, at=at(1))
    gone = Site.new_preview(slug="gone", business_name="Gone", now=T0, actor=Actor.ADMIN, cause="t")
    gone.sell(rosa.id, cause="paid", actor=Actor.WEBHOOK, at=at(1))
    gone.apply(Trigger.ARCHIVED, cause="t", actor=Actor.ADMIN, at=at(2))
    sub = Subscription.new(site_id=bakery.id, customer_id=rosa.id, amount=MONTHLY, now=at(2))
    sub.status, sub.provider_id, sub.started_at = SubscriptionState.ACTIVE, "su_1", at(2)
    sub.current_period_end = sub.paid_through = sub.next_payment_attempt_at = at(62)
    payments = [
        SubscriptionPayment("pa_1", sub.id, MONTHLY, at(2), at(32), at(2)),
        SubscriptionPayment("pa_3", sub.id, MONTHLY, at(32), at(62), at(32)),
        # Paid at the same instant as pa_3: the payment id breaks the tie.
        SubscriptionPayment("pa_2", sub.id, Money(50, "USD"), at(32), None, at(32)),
    ]
    edits = {
        name: EditRequest.new(
            site_id=bakery.id, customer_id=rosa.id, instructions=f"{name} change", now=at(n)
        )
        for n, name in enumerate(["failed", "rejected", "ready", "pending"], start=10)
    }
    edits["failed"].fail(reason="We need a photo first.", detail="no photo", now=at(11))
    edits["rejected"].reject(at(12))
    with backend.uow() as u:
        u.customers.add(rosa)
        u.customers.add(juan)
        u.refresh_sessions.add(live)
        u.refresh_sessions.add(ended)
        for site in (bakery, shop, gone):
            u.sites.add(site)
        base = SiteContent("<h1>one</h1>", "h1 { color: red }")
        u.sites.add_version(*new_version(bakery.id, 1, base, cause=VersionCause.IMPORT, created_at=at(1)))
        u.sites.add_version(
            *new_version(bakery.id, 2, SiteContent("<h1>two</h1>"), note="Hours", created_at=at(3))
        )
        restored, bodies = new_version(bakery.id, 3, base, cause=VersionCause.RESTORE, created_at=at(4))
        u.sites.add_version(attrs.evolve(restored, restored_from=1), bodies)
        u.subscriptions.add(sub)
        for payment in payments:
            u.subscriptions.add_payment(payment)
        for edit in edits.values():
            u.edits.add(edit)
        u.commit()
    # The ready edit's draft: the page changed, the style sheet as in version 1, a new file.
    prepared = prepare_files(SiteContent("<h1>ONE</h1>", "h1 { color: red }", "alert(1)").files())
    edits["ready"].draft(base_version=1, summary="Bigger title", files=prepared.files, by="fake", now=at(13))
    with backend.uow() as u:
        u.edits.save(edits["ready"], prepared.bodies)
        u.commit()
    backend.add_domain(
        CustomDomain.new(site_id=bakery.id, domain="www.bakery.example", token="tok", now=at(5))
    )
    return World(rosa, juan, live.family_id, ended.family_id, bakery, sub, edits)


def test_the_page_is_read_whole_and_alike_on_every_backend(backend: Backend) -> None:
    world = fill(backend)

    rows = backend.query.read(world.rosa.id, world.live_login, "bakery")

    assert rows.customer == world.rosa
    assert rows.login_live
    assert rows.site is not None
    assert rows.site == (
        world.site.id,
        "bakery",
        "Bakery",
        SiteStatus.ACTIVE,
        at(1),
        world.site.current_version,
    )
    assert rows.events == [
        EventRow(T0, None, SiteStatus.PREVIEW),
        EventRow(at(1), SiteStatus.PREVIEW, SiteStatus.OWNED),
        EventRow(at(2), SiteStatus.OWNED, SiteStatus.ACTIVE),
    ]
    assert rows.versions == [
        VersionRow(3, at(4), VersionCause.RESTORE, "test", 1),
        VersionRow(2, at(3), VersionCause.PUBLISH, "Hours", None),
        VersionRow(1, at(1), VersionCause.IMPORT, "test", None),
    ]
    assert rows.payments == [
        PaymentRow(at(32), MONTHLY, at(62)),  # pa_3
        PaymentRow(at(32), Money(50, "USD"), None),  # pa_2
        PaymentRow(at(2), MONTHLY, at(32)),
    ]
    assert list(rows.subscriptions) == [world.subscription]
    e = world.edits
    assert rows.edits == [
        EditRow(e["pending"].id, EditStatus.PENDING, "pending change", at(13), None, None, None),
        EditRow(e["ready"].id, EditStatus.READY, "ready change", at(12), "Bigger title", None, None),
        EditRow(e["rejected"].id, EditStatus.REJECTED, "rejected change", at(11), None, None, None),
        EditRow(
            e["failed"].id, EditStatus.FAILED, "failed change", at(10), None, None, "We need a photo first."
        ),
    ]
    assert {k: list(v) for k, v in rows.changed.items()} == {e["ready"].id: ["app.js", "index.html"]}
    assert rows.domain is not None
    assert (rows.domain.domain, rows.domain.site_id) == ("www.bakery.example", world.site.id)


def test_the_session_part_answers_for_the_login_it_names(backend: Backend) -> None:
    world = fill(backend)
    read = backend.query.read

    assert not read(world.rosa.id, world.ended_login, "bakery").login_live
    assert not read(world.rosa.id, uuid.uuid4(), "bakery").login_live
    unchecked = read(world.rosa.id, None, "bakery")
    assert not unchecked.login_live
    assert unchecked.site is not None
    nobody = read(uuid.uuid4(), world.live_login, "bakery")
    assert (nobody.customer, nobody.login_live, nobody.site) == (None, False, None)


@pytest.mark.parametrize("slug", ["shop", "gone", "nowhere"])
def test_anyone_elses_archived_or_unknown_site_reads_as_no_site(backend: Backend, slug: str) -> None:
    world = fill(backend)

    rows = backend.query.read(world.rosa.id, world.live_login, slug)

    assert rows == SitePageRows(customer=world.rosa, login_live=True, site=None)


def test_the_service_checks_the_session_before_the_site(backend: Backend) -> None:
    world = fill(backend)
    pages = SitePageService(backend.query, FakeClock(at(20)))
    rosa = world.rosa

    page = pages.signed_in(
        "bakery", customer_id=rosa.id, token_version=rosa.token_version, login_id=world.live_login
    )

    assert page.customer == rosa
    assert page.subscription is not None
    assert page.subscription.subscription == world.subscription
    for version, login in [
        (rosa.token_version + 1, world.live_login),
        (rosa.token_version, world.ended_login),
    ]:
        with pytest.raises(Unauthenticated):
            pages.signed_in("bakery", customer_id=rosa.id, token_version=version, login_id=login)
        with pytest.raises(Unauthenticated):  # before saying anything about another's site
            pages.signed_in("shop", customer_id=rosa.id, token_version=version, login_id=login)
    with pytest.raises(NotFound):
        pages.signed_in(
            "shop", customer_id=rosa.id, token_version=rosa.token_version, login_id=world.live_login
        )
    with pytest.raises(NotFound):
        pages.for_customer(world.juan, "bakery")
    assert pages.for_customer(rosa, "bakery").site.slug == "bakery"
