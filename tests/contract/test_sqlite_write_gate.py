"""SQLite: writers of one process queue on the database's write gate (``WriteGate``), held
from a unit of work's BEGIN IMMEDIATE until its transaction ends, whichever way it ends."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.errors import TransientError
from webmagic_core.sites import Actor, Site

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def site(slug: str) -> Site:
    return Site.new_preview(slug=slug, business_name=slug.title(), now=T0, actor=Actor.ADMIN, cause="t")


def write_in_thread(database: Database, slug: str) -> tuple[threading.Thread, list[object]]:
    """Add a site and commit in another thread; the list gets the time it finished, or the error."""
    done: list[object] = []

    def run() -> None:
        try:
            with database.unit_of_work() as work:
                work.sites.add(site(slug))
                work.commit()
            done.append(time.monotonic())
        except BaseException as error:
            done.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, done


def test_a_second_writer_waits_for_the_first_and_goes_on_when_it_commits(sqlite_database: Database) -> None:
    with sqlite_database.unit_of_work() as first:
        first.sites.add(site("first"))
        thread, done = write_in_thread(sqlite_database, "second")
        thread.join(timeout=0.3)
        assert thread.is_alive(), "the second writer did not wait"
        committed = time.monotonic()
        first.commit()
    thread.join(timeout=5)
    [finished] = done
    assert isinstance(finished, float)
    # Woken by the gate, not after one of SQLite's busy-handler naps.
    assert finished - committed < 1.0
    with sqlite_database.unit_of_work() as work:
        assert {s.slug for s in work.sites.list()} == {"first", "second"}


def run_after(database: Database, end: Callable[[object], None]) -> list[object]:
    """Write in a unit of work, end it with ``end``, then check another thread can write at once."""
    with database.unit_of_work() as work:
        work.sites.add(site("holder"))
        end(work)
        thread, done = write_in_thread(database, "after")
        thread.join(timeout=2)
        assert not thread.is_alive(), "the gate was not released when the transaction ended"
    return done


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(lambda work: work.commit(), id="commit"),
        pytest.param(lambda work: work.rollback(), id="rollback"),
    ],
)
def test_the_gate_is_released_when_the_transaction_ends(
    sqlite_database: Database, end: Callable[[object], None]
) -> None:
    done = run_after(sqlite_database, end)
    assert len(done) == 1
    assert isinstance(done[0], float)


def test_the_gate_is_released_when_the_block_is_left_by_an_error(sqlite_database: Database) -> None:
    def fail_while_writing() -> None:
        with sqlite_database.unit_of_work() as work:
            work.sites.add(site("holder"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_while_writing()
    thread, done = write_in_thread(sqlite_database, "after")
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert isinstance(done[0], float)


def test_after_a_commit_the_unit_of_work_takes_the_gate_again_for_its_next_write(
    sqlite_database: Database,
) -> None:
    with sqlite_database.unit_of_work() as work:
        work.sites.add(site("one"))
        work.commit()
        # Released: another writer gets through while this unit of work stays open.
        thread, done = write_in_thread(sqlite_database, "two")
        thread.join(timeout=2)
        assert not thread.is_alive()
        assert isinstance(done[0], float)
        # Reads start DEFERRED again; the next write takes the gate (and the lock) again.
        assert work.sites.get_by_slug("two") is not None
        work.sites.add(site("three"))
        thread, _ = write_in_thread(sqlite_database, "four")
        thread.join(timeout=0.3)
        assert thread.is_alive(), "the next write did not take the gate again"
        work.commit()
    thread.join(timeout=5)
    with sqlite_database.unit_of_work() as work:
        assert {s.slug for s in work.sites.list()} == {"one", "two", "three", "four"}


def test_readers_never_take_the_gate(sqlite_database: Database) -> None:
    with sqlite_database.unit_of_work() as writer:
        writer.sites.add(site("held"))
        with sqlite_database.unit_of_work() as reader:
            assert reader.sites.list() == []  # the writer has not committed
        writer.commit()


def test_a_writer_held_up_past_the_timeout_gets_a_transient_error(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webmagic_adapters.sqlalchemy.database as database_module

    monkeypatch.setattr(database_module, "SQLITE_BUSY_TIMEOUT_MS", 100)
    with sqlite_database.unit_of_work() as first:
        first.sites.add(site("first"))
        thread, done = write_in_thread(sqlite_database, "second")
        thread.join(timeout=5)
        first.commit()
    assert len(done) == 1
    assert isinstance(done[0], TransientError)
    assert "database is locked" in str(done[0])
    # Nothing stays held: the next writer gets through.
    thread, done = write_in_thread(sqlite_database, "third")
    thread.join(timeout=2)
    assert isinstance(done[0], float)
