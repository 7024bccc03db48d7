"""The ``PublishQueue`` contract on the fake, SQLite and PostgreSQL: requests coalesce,
live and die with their transaction, are held by one worker at a time, and a request made
while a site is being written is not lost."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_support import ALL, TEST_KEYS

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.ports import UnitOfWorkFactory
from webmagic_core.testing import FakeUnitOfWorkFactory

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=60)
A, B = uuid.UUID(int=1), uuid.UUID(int=2)


def _database(request: pytest.FixtureRequest, name: str, tmp_path: Path, *, publishing: bool) -> Database:
    if name == "sqlite":
        url = f"sqlite:///{(tmp_path / 'data' / 'webmagic.db').as_posix()}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url, keys=TEST_KEYS, publishing=publishing)
    request.addfinalizer(database.dispose)
    database.upgrade()
    return database


@pytest.fixture(params=ALL)
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWorkFactory]:
    if request.param == "fake":
        yield FakeUnitOfWorkFactory()
    else:
        yield _database(request, request.param, tmp_path, publishing=True).unit_of_work


def ask(uow: UnitOfWorkFactory, site_id: uuid.UUID, at: dt.datetime = T0) -> None:
    with uow() as unit:
        unit.publish_queue.request(site_id, at)
        unit.commit()


def claim(uow: UnitOfWorkFactory, at: dt.datetime = T0, limit: int = 10) -> list[object]:
    with uow() as unit:
        claims = list(unit.publish_queue.claim(at, limit=limit, lease=LEASE))
        unit.commit()
    return claims


def test_requests_for_one_site_coalesce(uow: UnitOfWorkFactory) -> None:
    ask(uow, A)
    ask(uow, A, T0 + dt.timedelta(seconds=1))
    ask(uow, B, T0 + dt.timedelta(seconds=2))
    with uow() as unit:
        assert unit.publish_queue.pending() == 2
        assert unit.publish_queue.due(T0 + dt.timedelta(seconds=2))
    claims = claim(uow, T0 + dt.timedelta(seconds=3))
    assert [c.site_id for c in claims] == [A, B]  # type: ignore[attr-defined]


def test_a_request_rolled_back_is_gone(uow: UnitOfWorkFactory) -> None:
    with uow() as unit:
        unit.publish_queue.request(A, T0)  # no commit
    with uow() as unit:
        assert unit.publish_queue.pending() == 0
        assert not unit.publish_queue.due(T0)


def test_a_claim_holds_until_completed_or_the_lease_passes(uow: UnitOfWorkFactory) -> None:
    ask(uow, A)
    (held,) = claim(uow)
    assert claim(uow, T0 + dt.timedelta(seconds=59)) == []
    with uow() as unit:
        assert not unit.publish_queue.due(T0 + dt.timedelta(seconds=59))
    (again,) = claim(uow, T0 + LEASE)  # the worker died: another one takes it
    assert again.site_id == A  # type: ignore[attr-defined]
    with uow() as unit:
        assert unit.publish_queue.complete(again)  # type: ignore[arg-type]
        unit.commit()
    with uow() as unit:
        assert unit.publish_queue.pending() == 0
    assert held is not None


def test_a_request_made_while_writing_is_kept_and_due_at_once(uow: UnitOfWorkFactory) -> None:
    ask(uow, A)
    (held,) = claim(uow)
    ask(uow, A, T0 + dt.timedelta(seconds=1))  # committed while the site is being written
    with uow() as unit:
        assert not unit.publish_queue.complete(held)  # type: ignore[arg-type]
        unit.commit()
    (again,) = claim(uow, T0 + dt.timedelta(seconds=2))  # not after the lease: now
    assert again.generation > held.generation  # type: ignore[attr-defined]


def test_a_failure_is_retried_later(uow: UnitOfWorkFactory) -> None:
    ask(uow, A)
    (held,) = claim(uow)
    with uow() as unit:
        unit.publish_queue.fail(held, "disk full", T0 + dt.timedelta(minutes=1))  # type: ignore[arg-type]
        unit.commit()
    assert claim(uow, T0 + dt.timedelta(seconds=30)) == []
    (again,) = claim(uow, T0 + dt.timedelta(minutes=1))
    assert again.attempts == 1  # type: ignore[attr-defined]
    ask(uow, A, T0 + dt.timedelta(minutes=2))
    with uow() as unit:  # a new request after a failure: due at once, not after a backoff
        assert unit.publish_queue.due(T0 + dt.timedelta(minutes=3))


def test_without_publishing_no_request_is_written(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    database = _database(request, "sqlite", tmp_path, publishing=False)
    ask(database.unit_of_work, A)
    with database.unit_of_work() as unit:
        assert unit.publish_queue.pending() == 0


@pytest.mark.parametrize("name", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_concurrent_workers_never_claim_the_same_site(
    request: pytest.FixtureRequest, tmp_path: Path, name: str
) -> None:
    database = _database(request, name, tmp_path, publishing=True)
    sites = [uuid.UUID(int=n) for n in range(1, 201)]
    with database.unit_of_work() as unit:
        for site_id in sites:
            unit.publish_queue.request(site_id, T0)
        unit.commit()
    got: list[uuid.UUID] = []
    lock = threading.Lock()

    def work() -> None:
        while True:
            claims = claim(database.unit_of_work, limit=7)
            if not claims:
                return
            with lock:
                got.extend(c.site_id for c in claims)  # type: ignore[attr-defined]

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(got) == sites  # each once


def test_the_doorbell_rings_after_commit_only(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    database = _database(request, "sqlite", tmp_path, publishing=True)
    rang: list[int] = []
    database.publish_doorbell.listen(lambda: rang.append(1))
    with database.unit_of_work() as unit:
        unit.publish_queue.request(A, T0)
        assert rang == []
    assert rang == []  # rolled back
    ask(database.unit_of_work, A)
    assert rang == [1]
