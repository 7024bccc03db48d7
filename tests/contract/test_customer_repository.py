"""The CustomerRepository port: one suite, run on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import pytest

from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import Conflict
from webmagic_core.ports import UnitOfWorkFactory

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)


def new_customer(email: str = "rosa@example.com", **changes: Any) -> Customer:
    customer = Customer.new(email=email, now=T0, password_hash="fake$4$00$abc", full_name="Rosa Díaz")
    return attrs.evolve(customer, **changes)


def store(uow: UnitOfWorkFactory, *customers: Customer) -> None:
    with uow() as work:
        for customer in customers:
            work.customers.add(customer)
        work.commit()


def test_added_customer_reads_back_equal_by_id_and_email(uow: UnitOfWorkFactory) -> None:
    full = new_customer(
        phone="+34 (600) 123-456",
        email_verified_at=T0 + dt.timedelta(hours=2, microseconds=7),
        token_version=3,
        updated_at=T0 + dt.timedelta(days=1),
    )
    bare = Customer.new(email="bought@example.com", now=T0)  # a purchase's account: no password yet
    store(uow, full, bare)
    with uow() as work:
        for customer in (full, bare):
            assert work.customers.get(customer.id) == customer
            assert work.customers.get(customer.id, for_update=True) == customer
            assert work.customers.get_by_email(customer.email) == customer
            assert work.customers.get_by_email(customer.email, for_update=True) == customer
        loaded = work.customers.get(bare.id)
    assert loaded is not None
    assert (loaded.password_hash, loaded.full_name, loaded.phone, loaded.email_verified_at) == (None,) * 4


def test_datetimes_in_other_zones_come_back_as_the_same_instants(uow: UnitOfWorkFactory) -> None:
    zone = dt.timezone(dt.timedelta(hours=-6))
    local = dt.datetime(2026, 3, 1, 3, 30, 15, 123456, tzinfo=zone)
    customer = new_customer(created_at=local, updated_at=local, email_verified_at=local)
    store(uow, customer)
    with uow() as work:
        loaded = work.customers.get(customer.id)
    assert loaded is not None
    assert loaded.created_at == loaded.updated_at == loaded.email_verified_at == T0


def test_unknown_ids_and_addresses_read_as_none(uow: UnitOfWorkFactory) -> None:
    store(uow, new_customer("rosa@example.com"))
    with uow() as work:
        assert work.customers.get(uuid.uuid4()) is None
        assert work.customers.get(uuid.uuid4(), for_update=True) is None
        assert work.customers.get_by_email("nobody@example.com") is None
        assert work.customers.get_by_email("nobody@example.com", for_update=True) is None


@pytest.mark.parametrize(
    "other",
    ["Rosa@example.com", "ROSA@EXAMPLE.COM", " rosa@example.com", "rosa@example.com ", "rosa@example"],
)
def test_email_lookup_is_an_exact_match_on_the_stored_address(uow: UnitOfWorkFactory, other: str) -> None:
    """Normalising is the service's job; the repository neither folds case nor trims."""
    store(uow, new_customer("rosa@example.com"))
    with uow() as work:
        assert work.customers.get_by_email(other) is None


def test_a_taken_email_is_a_conflict_and_the_transaction_stays_usable(uow: UnitOfWorkFactory) -> None:
    first = new_customer("rosa@example.com")
    store(uow, first)
    other = new_customer("rosa@example.com")
    with uow() as work:
        with pytest.raises(Conflict, match="email address exists"):
            work.customers.add(other)
        work.customers.add(new_customer("joe@example.com"))
        work.commit()
    with uow() as work:
        assert work.customers.get(other.id) is None
        assert work.customers.get_by_email("rosa@example.com") == first
        assert work.customers.get_by_email("joe@example.com") is not None


def test_adding_the_same_id_twice_is_a_conflict(uow: UnitOfWorkFactory) -> None:
    customer = new_customer("rosa@example.com")
    store(uow, customer)
    with uow() as work, pytest.raises(Conflict, match=str(customer.id)):
        work.customers.add(attrs.evolve(customer, email="another@example.com"))
    with uow() as work:
        assert work.customers.get_by_email("another@example.com") is None


def test_save_writes_every_changed_field(uow: UnitOfWorkFactory) -> None:
    customer = new_customer()
    store(uow, customer)
    later = T0 + dt.timedelta(days=2)
    with uow() as work:
        loaded = work.customers.get(customer.id, for_update=True)
        assert loaded is not None
        loaded.set_password("fake$4$01$def", later)
        loaded.full_name, loaded.phone, loaded.email_verified_at = None, "600 123 456", later
        loaded.email = "rosa.diaz@example.com"
        work.customers.save(loaded)
        work.commit()
    with uow() as work:
        assert work.customers.get(customer.id) == loaded
        assert work.customers.get_by_email("rosa.diaz@example.com") == loaded
        assert work.customers.get_by_email("rosa@example.com") is None
    assert loaded.token_version == customer.token_version + 1
    assert loaded.updated_at == later


def test_save_of_a_customer_never_added_is_a_lookup_error(uow: UnitOfWorkFactory) -> None:
    store(uow, new_customer("rosa@example.com"))
    with uow() as work, pytest.raises(LookupError, match="never added"):
        work.customers.save(new_customer("ghost@example.com"))


def test_save_taking_another_customers_email_is_a_conflict(uow: UnitOfWorkFactory) -> None:
    rosa, joe = new_customer("rosa@example.com"), new_customer("joe@example.com")
    store(uow, rosa, joe)
    with uow() as work:
        with pytest.raises(Conflict, match="email address exists"):
            work.customers.save(attrs.evolve(joe, email="rosa@example.com", full_name="Joe"))
        # Still usable: a later write in the same transaction commits.
        work.customers.save(attrs.evolve(joe, full_name="Joe Smith"))
        work.commit()
    with uow() as work:
        assert work.customers.get(joe.id) == attrs.evolve(joe, full_name="Joe Smith")
        assert work.customers.get(rosa.id) == rosa


def test_returned_customers_are_copies(uow: UnitOfWorkFactory) -> None:
    customer = new_customer()
    store(uow, customer)
    customer.full_name = "changed but never saved"
    with uow() as work:
        loaded = work.customers.get(customer.id)
        assert loaded is not None
        assert loaded.full_name == "Rosa Díaz"
        loaded.phone = "600 000 000"
    with uow() as work:
        again = work.customers.get(customer.id)
        assert again is not None
        assert again.phone is None


def test_without_commit_nothing_is_kept(uow: UnitOfWorkFactory) -> None:
    kept = new_customer("kept@example.com")
    store(uow, kept)
    with uow() as work:
        work.customers.add(new_customer("dropped@example.com"))
        work.customers.save(attrs.evolve(kept, full_name="changed"))
    with uow() as work:
        assert work.customers.get_by_email("dropped@example.com") is None
        assert work.customers.get(kept.id) == kept
