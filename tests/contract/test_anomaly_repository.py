"""The AnomalyRepository port: one suite, run on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attrs
import pytest

from webmagic_core.errors import Conflict
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.ports import UnitOfWorkFactory

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)


def anomaly(key: str | None = None, *, at: dt.datetime = T0, **changes: Any) -> Anomaly:
    made = Anomaly.new(
        AnomalyKind.DOUBLE_SALE,
        key or f"double_sale:{uuid.uuid4()}",
        "double sale: purchase paid 495.00 USD but the site was sold to another buyer",
        "Buyer rosa@example.com, checkout ch_1.\nRefund the payment and resolve this anomaly.",
        at,
    )
    return attrs.evolve(made, **changes)


def store(uow: UnitOfWorkFactory, *anomalies: Anomaly) -> None:
    with uow() as work:
        for item in anomalies:
            work.anomalies.add(item)
        work.commit()


def test_added_anomaly_reads_back_equal_by_id_and_key(uow: UnitOfWorkFactory) -> None:
    bare = anomaly("unknown_checkout:ch_x", kind=AnomalyKind.UNKNOWN_CHECKOUT)
    full = anomaly(
        kind=AnomalyKind.AMOUNT_MISMATCH,
        details="Ünïcode ✓\n\nseveral lines",
        site_id=uuid.uuid4(),
        purchase_id=uuid.uuid4(),
        webhook_event_id="msg_" + "z" * 300,
        resolved_at=T0 + dt.timedelta(days=1, microseconds=5),
        resolution="refunded by hand",
    )
    store(uow, bare, full)
    with uow() as work:
        for item in (bare, full):
            assert work.anomalies.get(item.id) == item
            assert work.anomalies.get_by_key(item.key) == item
        assert work.anomalies.get(uuid.uuid4()) is None
        assert work.anomalies.get_by_key("double_sale:nothing") is None


def test_a_taken_id_or_key_is_a_conflict_and_the_transaction_goes_on(uow: UnitOfWorkFactory) -> None:
    first = anomaly("double_sale:1")
    store(uow, first)
    later = anomaly("double_sale:2")
    with uow() as work:
        with pytest.raises(Conflict, match=str(first.id)):
            work.anomalies.add(attrs.evolve(first, key="double_sale:other"))
        with pytest.raises(Conflict, match="double_sale:1"):
            work.anomalies.add(anomaly("double_sale:1"))
        work.anomalies.add(later)
        work.commit()
    with uow() as work:
        assert [a.key for a in work.anomalies.list()] == ["double_sale:2", "double_sale:1"]


def test_save_writes_the_resolution_only(uow: UnitOfWorkFactory) -> None:
    item = anomaly()
    store(uow, item)
    resolved = attrs.evolve(item, summary="rewritten", details="rewritten", kind=AnomalyKind.PROCESSING_ERROR)
    resolved.resolve(T0 + dt.timedelta(hours=2), "refunded  through\nthe dashboard")
    with uow() as work:
        work.anomalies.save(resolved)
        work.commit()
    with uow() as work:
        stored = work.anomalies.get(item.id)
    assert stored == attrs.evolve(
        item, resolved_at=T0 + dt.timedelta(hours=2), resolution="refunded through the dashboard"
    )


def test_save_of_an_anomaly_never_added_is_a_lookup_error(uow: UnitOfWorkFactory) -> None:
    with uow() as work, pytest.raises(LookupError):
        work.anomalies.save(anomaly())


def test_uncommitted_anomalies_are_rolled_back(uow: UnitOfWorkFactory) -> None:
    item = anomaly()
    with uow() as work:
        work.anomalies.add(item)
    with uow() as work:
        assert work.anomalies.get(item.id) is None
        assert work.anomalies.get_by_key(item.key) is None


def test_list_is_newest_first_optionally_open_only_and_limited(uow: UnitOfWorkFactory) -> None:
    old = anomaly("old", at=T0 - dt.timedelta(days=1))
    tie_a = anomaly("tie-a", resolved_at=T0, resolution="done")
    tie_b = anomaly("tie-b")
    new = anomaly("new", at=T0 + dt.timedelta(days=1), resolved_at=T0, resolution="done")
    store(uow, old, tie_a, tie_b, new)
    with uow() as work:

        def keys(**options: Any) -> list[str]:
            return [a.key for a in work.anomalies.list(**options)]

        assert keys() == ["new", "tie-b", "tie-a", "old"]
        assert keys(limit=2) == ["new", "tie-b"]
        assert keys(open_only=True) == ["tie-b", "old"]
        assert keys(open_only=True, limit=1) == ["tie-b"]
        assert keys(limit=0) == []


def test_for_site_lists_a_sites_anomalies_oldest_first(uow: UnitOfWorkFactory) -> None:
    site_id = uuid.uuid4()
    late = anomaly("late", at=T0 + dt.timedelta(minutes=1), site_id=site_id)
    tie_a, tie_b = anomaly("tie-a", site_id=site_id), anomaly("tie-b", site_id=site_id)
    store(uow, late, tie_a, anomaly("elsewhere", site_id=uuid.uuid4()), anomaly("nowhere"), tie_b)
    with uow() as work:
        assert [a.key for a in work.anomalies.for_site(site_id)] == ["tie-a", "tie-b", "late"]
        assert work.anomalies.for_site(uuid.uuid4()) == []
