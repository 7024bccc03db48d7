"""The SubscriptionRepository and NoticeRepository ports, and StatsQuery.subscriptions:
one suite for every backend (the fake, SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Protocol

import attrs
import pytest

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.stats import SqlStatsQuery
from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import Conflict
from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import (
    Notice,
    NoticeKind,
    Subscription,
    SubscriptionPayment,
    SubscriptionState,
)
from webmagic_core.ports import StatsQuery, UnitOfWorkFactory
from webmagic_core.sites import Actor, Site
from webmagic_core.testing import FakeStatsQuery, FakeUnitOfWorkFactory

pytestmark = pytest.mark.parametrize(
    "backend", ["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
MONTHLY = Money(9500, "USD")
S = SubscriptionState


class Backend(Protocol):  # conftest.Backend
    database: Database | None

    @property
    def uow(self) -> UnitOfWorkFactory: ...


@pytest.fixture
def stats(backend: Backend) -> StatsQuery:
    if backend.database is not None:
        return SqlStatsQuery(backend.database)
    fake = backend.uow
    assert isinstance(fake, FakeUnitOfWorkFactory)
    return FakeStatsQuery(fake.store)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@attrs.define
class World:
    uow: UnitOfWorkFactory
    site: Site
    customer: Customer

    def new(self, *, minutes: float = 0, site: Site | None = None, **changes: Any) -> Subscription:
        made = Subscription.new(
            site_id=(site or self.site).id, customer_id=self.customer.id, amount=MONTHLY, now=at(minutes)
        )
        return attrs.evolve(made, **changes)

    def add(self, *subscriptions: Subscription) -> None:
        with self.uow() as work:
            for sub in subscriptions:
                work.subscriptions.add(sub)
            work.commit()

    def other_site(self, slug: str) -> Site:
        site = Site.new_preview(
            slug=slug, business_name=slug.title(), now=T0, actor=Actor.ADMIN, cause="test"
        )
        with self.uow() as work:
            work.sites.add(site)
            work.commit()
        return site


@pytest.fixture
def world(backend: Backend) -> World:
    uow = backend.uow
    site = Site.new_preview(
        slug="casa-rosa", business_name="Casa Rosa", now=T0, actor=Actor.ADMIN, cause="test"
    )
    customer = Customer.new(email="rosa@example.com", now=T0)
    with uow() as work:
        work.sites.add(site)
        work.customers.add(customer)
        work.commit()
    return World(uow, site, customer)


def full(world: World) -> Subscription:
    """Every field set, with microseconds and non-ASCII where text allows."""
    return world.new(
        minutes=1,
        status=S.CANCELLED,
        amount=Money(70000, "GTQ"),
        checkout_id="ch_full",
        checkout_url="https://pay.example.com/checkout-session/ch_full?ñ=1",
        provider_id="su_full",
        current_period_start=at(2),
        current_period_end=at(3),
        next_payment_attempt_at=at(4),
        paid_through=at(5),
        cancel_at_period_end=True,
        started_at=at(6),
        cancelled_at=at(7),
        ended_at=at(8),
        last_synced_at=at(9),
        updated_at=at(10),
    )


# --- subscriptions ------------------------------------------------------------------------------


def test_an_added_subscription_reads_back_equal_by_every_key(world: World) -> None:
    bare, rich = world.new(), full(world)
    world.add(bare, rich)
    with world.uow() as work:
        assert work.subscriptions.get(bare.id) == bare
        got = work.subscriptions.get(rich.id, for_update=True)
        assert got == rich
        assert work.subscriptions.get_by_checkout("ch_full") == rich
        assert work.subscriptions.get_by_provider_id("su_full", for_update=True) == rich
        assert work.subscriptions.get(uuid.uuid4()) is None
        assert work.subscriptions.get_by_checkout("ch_none") is None
        assert work.subscriptions.get_by_provider_id("su_none") is None
    assert got is not None
    assert got.paid_through is not None
    assert got.paid_through.utcoffset() == dt.timedelta(0)


def test_ids_checkouts_and_provider_ids_are_unique_but_nulls_are_not(world: World) -> None:
    first = world.new(checkout_id="ch_1", provider_id="su_1")
    world.add(first, world.new(), world.new())  # two with neither: fine
    for clash in (
        attrs.evolve(first, checkout_id="ch_2", provider_id="su_2"),  # same id
        world.new(checkout_id="ch_1"),
        world.new(provider_id="su_1"),
    ):
        with pytest.raises(Conflict), world.uow() as work:
            work.subscriptions.add(clash)


def test_save_writes_the_state_but_never_the_identity(world: World) -> None:
    sub = world.new(checkout_id="ch_1")
    world.add(sub, world.new(checkout_id="ch_other", provider_id="su_other"))
    changed = attrs.evolve(
        full(world),
        id=sub.id,
        checkout_id="ch_1",
        provider_id="su_1",
        site_id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        amount=Money(1, "USD"),
        created_at=at(99),
    )
    with world.uow() as work:
        work.subscriptions.save(changed)
        work.commit()
    with world.uow() as work:
        stored = work.subscriptions.get(sub.id)
    assert stored == attrs.evolve(
        changed,
        site_id=sub.site_id,
        customer_id=sub.customer_id,
        amount=sub.amount,
        created_at=sub.created_at,
    )
    for clash in (
        attrs.evolve(changed, checkout_id="ch_other"),
        attrs.evolve(changed, provider_id="su_other"),
    ):
        with pytest.raises(Conflict), world.uow() as work:
            work.subscriptions.save(clash)
    with pytest.raises(LookupError), world.uow() as work:
        work.subscriptions.save(world.new())


def test_nothing_is_kept_without_a_commit(world: World) -> None:
    sub = world.new()
    with world.uow() as work:
        work.subscriptions.add(sub)
        work.subscriptions.add_payment(SubscriptionPayment("pa_1", sub.id, MONTHLY, T0, None, T0))
        work.notices.add(Notice.hosting_ending(NoticeKind.HOSTING_ENDING_7_DAYS, world.site.id, T0, T0))
    with world.uow() as work:
        assert work.subscriptions.get(sub.id) is None
        assert work.subscriptions.get_payment("pa_1") is None
        assert work.notices.for_site(world.site.id) == []


def test_for_site_is_oldest_first_with_ties_in_insertion_order(world: World) -> None:
    other = world.other_site("panaderia")
    a, b, c = world.new(minutes=5), world.new(minutes=1), world.new(minutes=1)
    world.add(a, b, c, world.new(site=other))
    with world.uow() as work:
        assert [s.id for s in work.subscriptions.for_site(world.site.id)] == [b.id, c.id, a.id]
        assert work.subscriptions.for_site(uuid.uuid4()) == []


def test_list_is_newest_first_by_status_and_limited(world: World) -> None:
    a = world.new(minutes=1)
    b = world.new(minutes=2, status=S.ACTIVE)
    c = world.new(minutes=2, status=S.ACTIVE)
    d = world.new(minutes=3)
    world.add(a, b, c, d)
    with world.uow() as work:
        assert [s.id for s in work.subscriptions.list()] == [d.id, c.id, b.id, a.id]
        assert [s.id for s in work.subscriptions.list(status=S.ACTIVE)] == [c.id, b.id]
        assert [s.id for s in work.subscriptions.list(limit=2)] == [d.id, c.id]
        assert work.subscriptions.list(status=S.PAUSED) == []


def test_ending_finds_cancelled_subscriptions_whose_paid_time_is_over(world: World) -> None:
    now = at(100)
    due_null = world.new(minutes=3, status=S.CANCELLED)
    due_early = world.new(minutes=1, status=S.CANCELLED, paid_through=at(50))
    due_now = world.new(minutes=2, status=S.CANCELLED, paid_through=now)
    # Started, then the provider could not go on: it ends like a cancelled one.
    gave_up = world.new(minutes=4, status=S.UNABLE_TO_START, paid_through=at(60), started_at=at(1))
    world.add(
        gave_up,
        world.new(status=S.UNABLE_TO_START, paid_through=at(101), started_at=at(1)),  # time left
        due_now,
        due_early,
        due_null,
        world.new(status=S.CANCELLED, paid_through=at(101)),  # time left
        world.new(status=S.CANCELLED, paid_through=at(50), ended_at=at(60)),  # already ended
        world.new(status=S.ACTIVE, paid_through=at(50)),
        world.new(status=S.PAST_DUE),
        world.new(status=S.UNABLE_TO_START),
    )
    with world.uow() as work:
        assert [s.id for s in work.subscriptions.ending(now)] == [
            due_null.id,
            due_early.id,
            gave_up.id,
            due_now.id,
        ]
        assert [s.id for s in work.subscriptions.ending(now, limit=1)] == [due_null.id]


def test_due_for_sync_finds_past_due_paused_and_overdue_active_not_read_lately(world: World) -> None:
    period_ended_before, synced_before = at(100), at(200)
    past_due = world.new(minutes=1, status=S.PAST_DUE, provider_id="su_a", current_period_end=at(900))
    overdue = world.new(
        minutes=2, status=S.ACTIVE, provider_id="su_b", current_period_end=at(100), last_synced_at=at(150)
    )
    no_period = world.new(minutes=3, status=S.ACTIVE, provider_id="su_c", last_synced_at=at(200))
    never_read = world.new(minutes=4, status=S.PAST_DUE, provider_id="su_d")
    paused = world.new(minutes=5, status=S.PAUSED, provider_id="su_g", last_synced_at=at(190))
    world.add(
        past_due,
        overdue,
        no_period,
        never_read,
        paused,
        world.new(status=S.ACTIVE, provider_id="su_e", current_period_end=at(101)),  # not overdue
        world.new(status=S.PAST_DUE, provider_id="su_f", last_synced_at=at(201)),  # read lately
        world.new(status=S.PAUSED, provider_id="su_i", last_synced_at=at(201)),  # read lately
        world.new(status=S.PAST_DUE),  # no provider id
        world.new(status=S.CANCELLED, provider_id="su_h"),
    )
    with world.uow() as work:
        found = work.subscriptions.due_for_sync(
            period_ended_before=period_ended_before, synced_before=synced_before
        )
        assert [s.id for s in found] == [past_due.id, never_read.id, overdue.id, paused.id, no_period.id]
        limited = work.subscriptions.due_for_sync(
            period_ended_before=period_ended_before, synced_before=synced_before, limit=1
        )
        assert [s.id for s in limited] == [past_due.id]


def test_payments_are_recorded_once_and_listed_in_the_order_they_were_made(world: World) -> None:
    sub, other = world.new(), world.new()
    world.add(sub, other)
    late = SubscriptionPayment("pa_b", sub.id, MONTHLY, at(60), at(90), at(61))
    early = SubscriptionPayment("pa_c", sub.id, Money(9000, "USD"), at(30), None, at(62))
    tie = SubscriptionPayment("pa_a", sub.id, MONTHLY, at(60), None, at(63))
    with world.uow() as work:
        for payment in (late, early, tie, SubscriptionPayment("pa_x", other.id, MONTHLY, T0, None, T0)):
            work.subscriptions.add_payment(payment)
        work.commit()
    with pytest.raises(Conflict), world.uow() as work:
        work.subscriptions.add_payment(attrs.evolve(late, subscription_id=other.id))
    with world.uow() as work:
        assert work.subscriptions.payments(sub.id) == [early, tie, late]
        assert work.subscriptions.get_payment("pa_b") == late
        assert work.subscriptions.get_payment("pa_none") is None
        assert work.subscriptions.payments(uuid.uuid4()) == []


# --- notices ----------------------------------------------------------------------------------------


def test_a_notice_is_sent_once_per_key(world: World) -> None:
    other = world.other_site("panaderia")
    week = Notice.hosting_ending(NoticeKind.HOSTING_ENDING_7_DAYS, world.site.id, at(10_000), at(2))
    day = Notice.hosting_ending(NoticeKind.HOSTING_ENDING_1_DAY, world.site.id, at(10_000), at(1))
    with world.uow() as work:
        work.notices.add(week)
        work.notices.add(day)
        work.notices.add(Notice.hosting_ending(NoticeKind.HOSTING_ENDING_1_DAY, other.id, at(10_000), at(1)))
        work.commit()
    with pytest.raises(Conflict), world.uow() as work:
        work.notices.add(attrs.evolve(week, sent_at=at(3)))
    with world.uow() as work:
        assert work.notices.get(week.key) == week
        assert work.notices.get("nothing") is None
        assert work.notices.for_site(world.site.id) == [day, week]


# --- statistics --------------------------------------------------------------------------------------


def test_subscription_figures(world: World, stats: StatsQuery) -> None:
    since, now = at(1000), at(2000)
    # One site per subscription here: a site that carries on with another one is no churn.
    sites = iter(world.other_site(f"site-{n}") for n in range(10))
    world.add(
        world.new(status=S.ACTIVE, started_at=at(10), site=next(sites)),
        world.new(status=S.ACTIVE, started_at=at(1500), amount=Money(70000, "GTQ"), site=next(sites)),
        world.new(status=S.PAST_DUE, started_at=at(10), site=next(sites)),
        world.new(status=S.PAUSED, started_at=at(10), site=next(sites)),
        world.new(status=S.CANCELLED, started_at=at(10), ended_at=at(1500), site=next(sites)),  # churned
        world.new(
            status=S.CANCELLED, started_at=at(10), ended_at=now, site=next(sites)
        ),  # churned, at the edge
        world.new(status=S.CANCELLED, started_at=at(10), ended_at=since, site=next(sites)),  # gone before
        world.new(
            status=S.CANCELLED, started_at=at(1200), ended_at=at(1300), site=next(sites)
        ),  # not in cohort
        world.new(
            status=S.CANCELLED, started_at=at(10), ended_at=at(2001), site=next(sites)
        ),  # still running
        world.new(site=next(sites)),
    )
    figures = stats.subscriptions(since, now)
    assert {k: v for k, v in figures.by_status.items() if v} == {
        S.ACTIVE: 2,
        S.PAST_DUE: 1,
        S.PAUSED: 1,
        S.CANCELLED: 5,
        S.PENDING: 1,
    }
    assert dict(figures.monthly_by_currency) == {"USD": 2 * MONTHLY.amount_in_cents, "GTQ": 70000}
    assert (figures.subscribed_at_start, figures.ended_in_window) == (6, 2)


def test_a_cancel_then_resume_is_not_churn(world: World, stats: StatsQuery) -> None:
    since, now = at(1000), at(2000)
    resumed = world.other_site("resumed")
    world.add(
        world.new(status=S.CANCELLED, started_at=at(10), ended_at=at(1500), site=resumed),
        world.new(status=S.ACTIVE, started_at=at(1400), site=resumed),  # started before the old one ended
        world.new(status=S.CANCELLED, started_at=at(10), ended_at=at(1500)),  # this site stopped: churn
    )
    figures = stats.subscriptions(since, now)
    assert (figures.subscribed_at_start, figures.ended_in_window) == (2, 1)
