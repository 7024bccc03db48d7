"""The WebhookEventRepository port: one suite, run on the fake, SQLite and PostgreSQL; and,
on the real databases, the duplicate check under concurrency (a second transaction
inserting the same id waits for the first, then fails with ``Conflict`` if it committed)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import attrs
import pytest

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.errors import Conflict
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome
from webmagic_core.ports import UnitOfWorkFactory

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
BODY = '{"event_type": "payment_intent.succeeded", "customer": {"full_name": "Rosa Díaz ✓"}}'


def event(message_id: str | None = None, *, at: dt.datetime = T0, **changes: Any) -> WebhookEvent:
    made = WebhookEvent(
        id=message_id or f"msg_{uuid.uuid4().hex}",
        event_type="payment_intent.succeeded",
        body=BODY,
        received_at=at,
    )
    return attrs.evolve(made, **changes)


def store(uow: UnitOfWorkFactory, *events: WebhookEvent) -> None:
    with uow() as work:
        for item in events:
            work.webhook_events.add(item)
        work.commit()


def test_added_event_reads_back_equal(uow: UnitOfWorkFactory) -> None:
    fresh = event("msg_2KWPBgLlAfxdpx2AI54pPJ85f1W")
    done = event(
        "x" * 255,
        event_type="",  # the body named no type
        body="{}",
        processed_at=T0 + dt.timedelta(milliseconds=3),
        outcome=WebhookOutcome.ANOMALY,
        error="the event is malformed: it names no event type",
        site_id=uuid.uuid4(),
        purchase_id=uuid.uuid4(),
    )
    store(uow, fresh, done)
    with uow() as work:
        assert work.webhook_events.get(fresh.id) == fresh
        assert work.webhook_events.get(done.id) == done
        assert work.webhook_events.get("msg_unknown") is None


def test_a_repeated_id_is_a_conflict_at_once_and_the_transaction_goes_on(uow: UnitOfWorkFactory) -> None:
    first = event("msg_1")
    store(uow, first)
    other = event("msg_2")
    with uow() as work:
        with pytest.raises(Conflict, match="msg_1"):
            work.webhook_events.add(event("msg_1", body='{"changed": true}'))
        work.webhook_events.add(other)
        with pytest.raises(Conflict, match="msg_2"):
            work.webhook_events.add(event("msg_2"))
        work.commit()
    with uow() as work:
        assert work.webhook_events.get("msg_1") == first
        assert work.webhook_events.get("msg_2") == other


def test_ids_differing_only_in_case_are_different_events(uow: UnitOfWorkFactory) -> None:
    store(uow, event("msg_Abc"), event("msg_abc"))
    with uow() as work:
        assert {e.id for e in work.webhook_events.list()} == {"msg_Abc", "msg_abc"}


def test_save_writes_the_outcome_and_what_it_touched_but_never_the_body(uow: UnitOfWorkFactory) -> None:
    item = event("msg_1")
    store(uow, item)
    site_id, purchase_id = uuid.uuid4(), uuid.uuid4()
    item.record(
        WebhookOutcome.PROCESSED, T0 + dt.timedelta(seconds=1), site_id=site_id, purchase_id=purchase_id
    )
    changed = attrs.evolve(item, body="{}", event_type="other", received_at=T0 + dt.timedelta(days=1))
    with uow() as work:
        work.webhook_events.save(changed)
        work.commit()
    with uow() as work:
        assert work.webhook_events.get("msg_1") == item
    # Replayed later as an anomaly: the outcome changes, what it touched stays.
    item.record(WebhookOutcome.ANOMALY, T0 + dt.timedelta(hours=1), error="no longer fits")
    with uow() as work:
        work.webhook_events.save(item)
        work.commit()
    with uow() as work:
        stored = work.webhook_events.get("msg_1")
    assert stored == item
    assert stored is not None
    assert (stored.site_id, stored.purchase_id) == (site_id, purchase_id)


def test_save_of_an_event_never_added_is_a_lookup_error(uow: UnitOfWorkFactory) -> None:
    with uow() as work, pytest.raises(LookupError):
        work.webhook_events.save(event("msg_never"))


def test_uncommitted_events_are_rolled_back(uow: UnitOfWorkFactory) -> None:
    with uow() as work:
        work.webhook_events.add(event("msg_1"))
    with uow() as work:
        assert work.webhook_events.get("msg_1") is None
    store(uow, event("msg_1"))  # and the id is free again


def test_list_is_newest_first_filtered_and_limited(uow: UnitOfWorkFactory) -> None:
    old = event("old", at=T0 - dt.timedelta(days=1), outcome=WebhookOutcome.PROCESSED)
    tie_a = event("tie-a", outcome=WebhookOutcome.DUPLICATE)
    tie_b = event("tie-b", outcome=WebhookOutcome.PROCESSED)
    new = event("new", at=T0 + dt.timedelta(days=1))
    store(uow, old, tie_a, tie_b, new)
    with uow() as work:

        def ids(**options: Any) -> list[str]:
            return [e.id for e in work.webhook_events.list(**options)]

        assert ids() == ["new", "tie-b", "tie-a", "old"]
        assert ids(limit=3) == ["new", "tie-b", "tie-a"]
        assert ids(outcome=WebhookOutcome.PROCESSED) == ["tie-b", "old"]
        assert ids(outcome=WebhookOutcome.PROCESSED, limit=1) == ["tie-b"]
        assert ids(outcome=WebhookOutcome.IGNORED) == []
        assert ids(limit=0) == []


def test_for_site_lists_the_events_that_touched_a_site_oldest_first(uow: UnitOfWorkFactory) -> None:
    site_id = uuid.uuid4()
    late = event("late", at=T0 + dt.timedelta(minutes=1), site_id=site_id)
    tie_a, tie_b = event("tie-a", site_id=site_id), event("tie-b", site_id=site_id)
    store(uow, late, tie_a, event("elsewhere", site_id=uuid.uuid4()), event("nowhere"), tie_b)
    with uow() as work:
        assert [e.id for e in work.webhook_events.for_site(site_id)] == ["tie-a", "tie-b", "late"]
        assert work.webhook_events.for_site(uuid.uuid4()) == []


# --- concurrency (real databases) --------------------------------------------------------------


def insert_in_background(database: Database, item: WebhookEvent) -> tuple[threading.Thread, list[object]]:
    """Insert ``item`` and commit in a thread; the list gets "inserted" or the exception."""
    results: list[object] = []

    def run() -> None:
        try:
            with database.unit_of_work() as work:
                work.webhook_events.add(item)
                work.commit()
            results.append("inserted")
        except BaseException as error:
            results.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


def test_a_concurrent_insert_of_the_same_id_waits_then_conflicts(database: Database) -> None:
    other = Database(database_url(database))
    try:
        with database.unit_of_work() as first:
            first.webhook_events.add(event("msg_same"))
            thread, results = insert_in_background(other, event("msg_same", body='{"second": 1}'))
            thread.join(timeout=0.5)
            assert thread.is_alive(), "the second insert did not wait for the first transaction"
            first.commit()
        thread.join(timeout=10)
        assert len(results) == 1
        assert isinstance(results[0], Conflict)
        with database.unit_of_work() as work:
            stored = work.webhook_events.get("msg_same")
        assert stored is not None
        assert stored.body == BODY
    finally:
        other.dispose()


def test_a_concurrent_insert_of_the_same_id_succeeds_when_the_first_rolls_back(database: Database) -> None:
    other = Database(database_url(database))
    try:
        with database.unit_of_work() as first:
            first.webhook_events.add(event("msg_same"))
            thread, results = insert_in_background(other, event("msg_same", body='{"second": 1}'))
            thread.join(timeout=0.5)
            assert thread.is_alive(), "the second insert did not wait for the first transaction"
            first.rollback()
        thread.join(timeout=10)
        assert results == ["inserted"]
        with database.unit_of_work() as work:
            stored = work.webhook_events.get("msg_same")
        assert stored is not None
        assert stored.body == '{"second": 1}'
    finally:
        other.dispose()


def database_url(database: Database) -> str:
    """The full URL (with any password) of ``database``, for a second engine on it."""
    return database.engine.url.render_as_string(hide_password=False)
