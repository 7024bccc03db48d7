"""The RefreshSessionRepository port: one suite, run on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs
import pytest

from webmagic_core.accounts.customers import REFRESH_TOKEN_LIFETIME, Customer, RefreshSession
from webmagic_core.errors import Conflict
from webmagic_core.ports import UnitOfWorkFactory

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(minutes=20, microseconds=3)


def customer(uow: UnitOfWorkFactory, email: str = "rosa@example.com") -> Customer:
    created = Customer.new(email=email, now=T0, password_hash="fake$4$00$abc", verified=True)
    with uow() as work:
        work.customers.add(created)
        work.commit()
    return created


def login(uow: UnitOfWorkFactory, owner: Customer, *, family: uuid.UUID | None = None) -> RefreshSession:
    session, _ = RefreshSession.issue(customer_id=owner.id, now=T0, family_id=family)
    with uow() as work:
        work.refresh_sessions.add(session)
        work.commit()
    return session


def test_added_session_reads_back_equal_by_token_hash(uow: UnitOfWorkFactory) -> None:
    session = login(uow, customer(uow))
    with uow() as work:
        assert work.refresh_sessions.get_by_token_hash(session.token_hash) == session
        assert work.refresh_sessions.get_by_token_hash(session.token_hash, for_update=True) == session
        assert work.refresh_sessions.get_by_token_hash("0" * 64) is None
        assert work.refresh_sessions.get_by_token_hash("0" * 64, for_update=True) is None
    assert session.expires_at == T0 + REFRESH_TOKEN_LIFETIME


def test_a_known_id_or_token_hash_is_a_conflict(uow: UnitOfWorkFactory) -> None:
    owner = customer(uow)
    session = login(uow, owner)
    fresh, _ = RefreshSession.issue(customer_id=owner.id, now=T0)
    with uow() as work:
        with pytest.raises(Conflict):
            work.refresh_sessions.add(attrs.evolve(fresh, id=session.id))
        with pytest.raises(Conflict):
            work.refresh_sessions.add(attrs.evolve(fresh, token_hash=session.token_hash))
        work.refresh_sessions.add(fresh)  # the transaction survived both clashes
        work.commit()
    with uow() as work:
        assert work.refresh_sessions.get_by_token_hash(fresh.token_hash) == fresh
        assert work.refresh_sessions.get_by_token_hash(session.token_hash) == session


def test_save_writes_used_and_revoked_times(uow: UnitOfWorkFactory) -> None:
    session = login(uow, customer(uow))
    with uow() as work:
        loaded = work.refresh_sessions.get_by_token_hash(session.token_hash, for_update=True)
        assert loaded is not None
        assert loaded.usable(T0)
        loaded.used_at = LATER
        work.refresh_sessions.save(loaded)
        work.commit()
    with uow() as work:
        used = work.refresh_sessions.get_by_token_hash(session.token_hash)
        assert used == attrs.evolve(session, used_at=LATER)
        assert used is not None
        assert not used.usable(T0)
        used.revoked_at = LATER + dt.timedelta(seconds=1)
        work.refresh_sessions.save(used)
        work.commit()
    with uow() as work:
        assert work.refresh_sessions.get_by_token_hash(session.token_hash) == used


def test_save_of_a_session_never_added_is_a_lookup_error(uow: UnitOfWorkFactory) -> None:
    owner = customer(uow)
    login(uow, owner)
    ghost, _ = RefreshSession.issue(customer_id=owner.id, now=T0)
    with uow() as work, pytest.raises(LookupError, match="never added"):
        work.refresh_sessions.save(ghost)


def revoked_at(uow: UnitOfWorkFactory, *sessions: RefreshSession) -> list[dt.datetime | None]:
    with uow() as work:
        found = [work.refresh_sessions.get_by_token_hash(s.token_hash) for s in sessions]
    return [s.revoked_at if s is not None else None for s in found]


def test_revoke_family_revokes_each_token_of_one_login_once(uow: UnitOfWorkFactory) -> None:
    rosa, joe = customer(uow, "rosa@example.com"), customer(uow, "joe@example.com")
    first = login(uow, rosa)
    rotated = login(uow, rosa, family=first.family_id)
    other_login = login(uow, rosa)
    joes = login(uow, joe)
    earlier = T0 + dt.timedelta(minutes=1)
    with uow() as work:
        early = work.refresh_sessions.get_by_token_hash(first.token_hash)
        assert early is not None
        early.revoked_at = earlier
        work.refresh_sessions.save(early)
        work.commit()

    with uow() as work:
        assert work.refresh_sessions.revoke_family(first.family_id, LATER) == 1  # the one not yet revoked
        work.commit()
    assert revoked_at(uow, first, rotated, other_login, joes) == [earlier, LATER, None, None]
    with uow() as work:
        assert work.refresh_sessions.revoke_family(first.family_id, LATER + dt.timedelta(hours=1)) == 0
        assert work.refresh_sessions.revoke_family(uuid.uuid4(), LATER) == 0
        work.commit()
    assert revoked_at(uow, first, rotated) == [earlier, LATER]


def test_revoke_customer_revokes_every_login_of_that_customer_only(uow: UnitOfWorkFactory) -> None:
    rosa, joe = customer(uow, "rosa@example.com"), customer(uow, "joe@example.com")
    first = login(uow, rosa)
    rotated = login(uow, rosa, family=first.family_id)
    second = login(uow, rosa)
    joes = login(uow, joe)
    with uow() as work:
        assert work.refresh_sessions.revoke_customer(rosa.id, LATER) == 3
        work.commit()
    assert revoked_at(uow, first, rotated, second, joes) == [LATER, LATER, LATER, None]
    with uow() as work:
        assert work.refresh_sessions.revoke_customer(rosa.id, LATER) == 0
        assert work.refresh_sessions.revoke_customer(uuid.uuid4(), LATER) == 0


def test_revocations_without_commit_are_dropped(uow: UnitOfWorkFactory) -> None:
    session = login(uow, customer(uow))
    with uow() as work:
        assert work.refresh_sessions.revoke_family(session.family_id, LATER) == 1
    assert revoked_at(uow, session) == [None]


def test_a_login_is_live_until_any_of_its_tokens_is_revoked(uow: UnitOfWorkFactory) -> None:
    rosa = customer(uow)
    first = login(uow, rosa)
    rotated = login(uow, rosa, family=first.family_id)
    other = login(uow, rosa)
    with uow() as work:
        spent = work.refresh_sessions.get_by_token_hash(first.token_hash, for_update=True)
        assert spent is not None
        spent.used_at = LATER  # rotation spends a token; the login goes on
        work.refresh_sessions.save(spent)
        work.commit()
    with uow() as work:
        assert work.refresh_sessions.login_live(first.family_id)
        assert work.refresh_sessions.login_live(other.family_id)
        assert not work.refresh_sessions.login_live(uuid.uuid4())  # never issued
        work.refresh_sessions.revoke_family(rotated.family_id, LATER)
        work.commit()
    with uow() as work:
        assert not work.refresh_sessions.login_live(first.family_id)
        assert work.refresh_sessions.login_live(other.family_id)
