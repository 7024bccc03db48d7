"""The PurchaseRepository port (and a sold site's owner): one suite, run on the fake,
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import pytest

from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import Conflict
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.ports import UnitOfWorkFactory
from webmagic_core.sites import Actor, Site

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
PRICE = Money(49500, "USD")


def new_site(uow: UnitOfWorkFactory, slug: str = "casa-rosa") -> Site:
    site = Site.new_preview(slug=slug, business_name=slug.title(), now=T0, actor=Actor.ADMIN, cause="test")
    with uow() as work:
        work.sites.add(site)
        work.commit()
    return site


def new_customer(uow: UnitOfWorkFactory, email: str = "rosa@example.com") -> Customer:
    customer = Customer.new(email=email, now=T0)
    with uow() as work:
        work.customers.add(customer)
        work.commit()
    return customer


def purchase(site: Site, *, at: dt.datetime = T0, **changes: Any) -> Purchase:
    made = Purchase.new(site_id=site.id, amount=PRICE, buyer_email="buyer@example.com", now=at)
    return attrs.evolve(made, **changes)


def store(uow: UnitOfWorkFactory, *purchases: Purchase) -> None:
    with uow() as work:
        for item in purchases:
            work.purchases.add(item)
        work.commit()


def test_added_purchase_reads_back_equal_by_id_and_checkout(uow: UnitOfWorkFactory) -> None:
    site, customer = new_site(uow), new_customer(uow)
    bare = purchase(site)
    full = purchase(
        site,
        at=T0 + dt.timedelta(seconds=1),
        status=PurchaseStatus.REFUND_DUE,
        amount=Money(123, "GTQ"),
        buyer_name="Rosa Díaz ✓",
        buyer_phone="+502 5555 1234",
        customer_id=customer.id,
        checkout_id="ch_" + "x" * 300,  # longer than any id seen: still stored
        checkout_url="https://pay.example.test/checkout-session/ch_x?a=1&b=2",
        checkout_created_at=T0 + dt.timedelta(seconds=2, microseconds=7),
        paid_at=T0 + dt.timedelta(minutes=3),
        payment_id="pa_abc",
        closed_at=T0 + dt.timedelta(minutes=3),
        failure_reason="the site was sold to another buyer",
    )
    store(uow, bare, full)
    with uow() as work:
        for item in (bare, full):
            assert work.purchases.get(item.id) == item
            assert work.purchases.get(item.id, for_update=True) == item
        assert full.checkout_id is not None
        assert work.purchases.get_by_checkout(full.checkout_id) == full
        assert work.purchases.get_by_checkout(full.checkout_id, for_update=True) == full
        assert work.purchases.get(uuid.uuid4()) is None
        assert work.purchases.get_by_checkout("ch_unknown") is None


def test_times_in_other_zones_come_back_as_the_same_instants(uow: UnitOfWorkFactory) -> None:
    site = new_site(uow)
    local = T0.astimezone(dt.timezone(dt.timedelta(hours=-6)))
    item = purchase(site, at=local)
    store(uow, item)
    with uow() as work:
        loaded = work.purchases.get(item.id)
    assert loaded is not None
    assert loaded.created_at == T0
    assert loaded.expires_at == item.expires_at


def test_a_taken_id_or_checkout_is_a_conflict_and_the_transaction_goes_on(uow: UnitOfWorkFactory) -> None:
    site = new_site(uow)
    first = purchase(site, checkout_id="ch_first")
    store(uow, first)
    later = purchase(site)
    with uow() as work:
        with pytest.raises(Conflict, match=str(first.id)):
            work.purchases.add(attrs.evolve(first, checkout_id="ch_other"))
        with pytest.raises(Conflict, match="ch_first"):
            work.purchases.add(purchase(site, checkout_id="ch_first"))
        work.purchases.add(later)
        work.commit()
    with uow() as work:
        assert [p.id for p in work.purchases.for_site(site.id)] == [first.id, later.id]


def test_purchases_without_a_checkout_are_not_a_conflict(uow: UnitOfWorkFactory) -> None:
    site = new_site(uow)
    store(uow, purchase(site), purchase(site))
    with uow() as work:
        assert len(work.purchases.for_site(site.id)) == 2


def test_save_writes_the_new_state(uow: UnitOfWorkFactory) -> None:
    site, customer = new_site(uow), new_customer(uow)
    item = purchase(site, buyer_name="Rosa")
    store(uow, item)
    item.attach_checkout("ch_1", "https://pay.example.test/ch_1", T0 + dt.timedelta(seconds=1))
    with uow() as work:
        work.purchases.save(item)
        work.commit()
    item.mark_paid(T0 + dt.timedelta(minutes=5), payment_id="pa_1", customer_id=customer.id)
    item.buyer_phone = "+34 600 000 000"
    with uow() as work:
        work.purchases.save(item)
        work.commit()
    with uow() as work:
        assert work.purchases.get(item.id) == item
        assert work.purchases.get_by_checkout("ch_1") == item
    assert item.status is PurchaseStatus.PAID


def test_save_of_a_purchase_never_added_is_a_lookup_error(uow: UnitOfWorkFactory) -> None:
    site = new_site(uow)
    with uow() as work, pytest.raises(LookupError):
        work.purchases.save(purchase(site))


def test_save_with_another_purchases_checkout_is_a_conflict(uow: UnitOfWorkFactory) -> None:
    site = new_site(uow)
    first, second = purchase(site, checkout_id="ch_1"), purchase(site)
    store(uow, first, second)
    second.checkout_id = "ch_1"
    with uow() as work:
        with pytest.raises(Conflict, match="ch_1"):
            work.purchases.save(second)
        # Still usable: the clash changed nothing.
        first.mark_expired(T0 + dt.timedelta(hours=1))
        work.purchases.save(first)
        work.commit()
    with uow() as work:
        stored_first, stored_second = work.purchases.get(first.id), work.purchases.get(second.id)
    assert stored_first is not None
    assert stored_first.status is PurchaseStatus.EXPIRED
    assert stored_second is not None
    assert stored_second.checkout_id is None


def test_uncommitted_purchases_are_rolled_back(uow: UnitOfWorkFactory) -> None:
    site = new_site(uow)
    item = purchase(site)
    with uow() as work:
        work.purchases.add(item)
    with uow() as work:
        assert work.purchases.get(item.id) is None


def test_for_site_lists_a_sites_purchases_oldest_first_in_insertion_order_on_ties(
    uow: UnitOfWorkFactory,
) -> None:
    site, other = new_site(uow), new_site(uow, "other-site")
    late = purchase(site, at=T0 + dt.timedelta(minutes=1))
    tie_a, tie_b = purchase(site), purchase(site)
    store(uow, late, tie_a, purchase(other), tie_b)
    with uow() as work:
        assert [p.id for p in work.purchases.for_site(site.id)] == [tie_a.id, tie_b.id, late.id]
        assert work.purchases.for_site(uuid.uuid4()) == []


def test_list_is_newest_first_filtered_and_limited(uow: UnitOfWorkFactory) -> None:
    site = new_site(uow)
    old = purchase(site, at=T0 - dt.timedelta(days=1), status=PurchaseStatus.PAID)
    tie_a = purchase(site)
    tie_b = purchase(site, status=PurchaseStatus.PAID)
    new = purchase(site, at=T0 + dt.timedelta(days=1))
    store(uow, old, tie_a, tie_b, new)
    with uow() as work:
        # Equal created_at: the one added last comes first, as in the fake.
        assert [p.id for p in work.purchases.list()] == [new.id, tie_b.id, tie_a.id, old.id]
        assert [p.id for p in work.purchases.list(limit=2)] == [new.id, tie_b.id]
        assert [p.id for p in work.purchases.list(status=PurchaseStatus.PAID)] == [tie_b.id, old.id]
        assert [p.id for p in work.purchases.list(status=PurchaseStatus.PENDING, limit=1)] == [new.id]
        assert work.purchases.list(status=PurchaseStatus.FAILED) == []
        assert work.purchases.list(limit=0) == []


def test_a_sold_site_keeps_its_owner_and_purchase_time(uow: UnitOfWorkFactory) -> None:
    site, customer = new_site(uow), new_customer(uow)
    sold_at = T0 + dt.timedelta(hours=1, microseconds=3)
    with uow() as work:
        loaded = work.sites.get_by_slug(site.slug, for_update=True)
        assert loaded is not None
        event = loaded.sell(
            customer.id, cause="purchase paid", actor=Actor.WEBHOOK, at=sold_at, reference="m1"
        )
        work.sites.save(loaded)
        work.commit()
    with uow() as work:
        stored = work.sites.get(site.id)
        listed = work.sites.list()
        events = work.sites.events(site.id)
    assert stored is not None
    assert (stored.owner_id, stored.purchased_at) == (customer.id, sold_at)
    assert listed == [stored]
    assert events[-1] == event


def test_sites_list_by_owner_and_status(uow: UnitOfWorkFactory) -> None:
    rosa, joe = new_customer(uow), new_customer(uow, "joe@example.com")
    for slug in ("zeta", "alpha", "mid", "nobodys"):
        new_site(uow, slug)
    with uow() as work:
        for slug, owner in (("zeta", rosa), ("alpha", rosa), ("mid", joe)):
            loaded = work.sites.get_by_slug(slug, for_update=True)
            assert loaded is not None
            loaded.sell(owner.id, cause="purchase paid", actor=Actor.WEBHOOK, at=T0, reference=slug)
            work.sites.save(loaded)
        work.commit()
    with uow() as work:
        assert [s.slug for s in work.sites.list(owner_id=rosa.id)] == ["alpha", "zeta"]
        assert [s.slug for s in work.sites.list(owner_id=joe.id)] == ["mid"]
        assert work.sites.list(owner_id=uuid.uuid4()) == []
        assert [s.slug for s in work.sites.list(owner_id=rosa.id, status=SiteStatus.OWNED)] == [
            "alpha",
            "zeta",
        ]
        assert work.sites.list(owner_id=rosa.id, status=SiteStatus.PREVIEW) == []
        assert [s.slug for s in work.sites.list(status=SiteStatus.PREVIEW)] == ["nobodys"]


def test_a_new_site_has_no_owner(uow: UnitOfWorkFactory) -> None:
    site = new_site(uow)
    with uow() as work:
        stored = work.sites.get_by_slug(site.slug)
    assert stored == site
    assert stored is not None
    assert (stored.owner_id, stored.purchased_at) == (None, None)
