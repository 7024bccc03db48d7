"""``UnitOfWork.after_commit`` on the fake, SQLite and PostgreSQL: a callback runs once its
transaction commits, never when it rolls back; and the anomaly log line is written only
for an anomaly that was committed."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.ports import UnitOfWorkFactory
from webmagic_core.services.anomalies import AnomalyReporter

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def anomaly(key: str) -> Anomaly:
    return Anomaly.new(
        AnomalyKind.UNKNOWN_CHECKOUT, key, f"payment for unknown checkout {key}", "details", T0
    )


def test_callbacks_run_after_commit_only(uow: UnitOfWorkFactory) -> None:
    ran: list[str] = []
    with uow() as work:
        work.after_commit(lambda: ran.append("rolled back"))
        work.rollback()
        work.after_commit(lambda: ran.append("left without commit"))
    with uow() as work:
        work.after_commit(lambda: ran.append("first"))
        work.after_commit(lambda: ran.append("second"))
        assert ran == []
        work.commit()
        assert ran == ["first", "second"]
        work.commit()  # each runs once
    assert ran == ["first", "second"]


def test_a_failing_callback_is_logged_and_the_others_run(
    uow: UnitOfWorkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    with uow() as work, caplog.at_level(logging.ERROR):
        work.after_commit(broken)
        work.after_commit(lambda: ran.append("after"))
        work.commit()
    assert ran == ["after"]
    assert "after-commit callback failed" in caplog.text


def test_the_anomaly_log_line_follows_the_commit(
    uow: UnitOfWorkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = AnomalyReporter()
    with caplog.at_level(logging.WARNING, logger="webmagic_core.services.anomalies"):
        with uow() as work:
            reporter.report(work, anomaly("ch_rolled_back"), T0)  # its transaction fails
        assert "ch_rolled_back" not in caplog.text
        with uow() as work:
            reporter.report(work, anomaly("ch_kept"), T0)
            assert "ch_kept" not in caplog.text
            work.commit()
    assert caplog.text.count("payment anomaly (unknown_checkout): payment for unknown checkout ch_kept") == 1
