"""Units of work that read, then write, while others write: they wait their turn instead
of failing (SQLite's SQLITE_BUSY_SNAPSHOT), on SQLite and PostgreSQL alike.

See ``repositories.begin_for_write``: on SQLite a unit of work takes the write lock before
its first write; a read-only DEFERRED transaction in front of it is ended first.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import func, insert, select

from webmagic_adapters.sqlalchemy import tables
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.errors import Conflict
from webmagic_core.outbox import OutboxMessage
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import Actor, Site, SiteContent
from webmagic_core.testing import FakeClock

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def customer(email: str) -> Customer:
    return Customer.new(email=email, now=T0, password_hash="fake$4$00$abc")


def mail(to: str) -> OutboxMessage:
    message = EmailMessage(
        id=uuid.uuid4(),
        to=to,
        subject="Hi",
        text="Hi\n",
        html="<p>Hi</p>",
        template=EmailTemplate.VERIFY_EMAIL,
    )
    return OutboxMessage.pending(message, T0)


def test_a_unit_of_work_that_read_before_another_commit_still_writes(database: Database) -> None:
    with database.unit_of_work() as late:
        assert late.customers.get_by_email("rosa@example.com") is None  # a read snapshot
        with database.unit_of_work() as early:
            early.customers.add(customer("joe@example.com"))
            early.outbox.add(mail("joe@example.com"))
            early.commit()
        # On SQLite this upgrade of a stale snapshot used to fail at once (database is locked).
        late.customers.add(customer("rosa@example.com"))
        late.outbox.add(mail("rosa@example.com"))
        late.commit()
    with database.unit_of_work() as work:
        assert work.customers.get_by_email("joe@example.com") is not None
        assert work.customers.get_by_email("rosa@example.com") is not None
        assert sum(work.outbox.count_by_status().values()) == 2


def test_a_write_after_a_stale_read_sees_the_newer_commit(database: Database) -> None:
    """Check-then-insert races end in the unique constraint, as on PostgreSQL."""
    with database.unit_of_work() as late:
        assert late.customers.get_by_email("rosa@example.com") is None
        with database.unit_of_work() as early:
            early.customers.add(customer("rosa@example.com"))
            early.commit()
        with pytest.raises(Conflict, match="email address exists"):
            late.customers.add(customer("rosa@example.com"))
        assert late.customers.get_by_email("rosa@example.com") is not None  # now seen


def test_sqlite_read_only_units_of_work_keep_one_snapshot(sqlite_database: Database) -> None:
    database = sqlite_database
    with database.unit_of_work() as reader:
        assert reader.sites.list() == []
        with database.unit_of_work() as writer:
            writer.sites.add(
                Site.new_preview(
                    slug="alpha", business_name="Alpha", now=T0, actor=Actor.ADMIN, cause="created"
                )
            )
            writer.commit()
        assert reader.sites.list() == []  # repeatable until it writes
    with database.unit_of_work() as reader:
        assert [site.slug for site in reader.sites.list()] == ["alpha"]


def test_sqlite_never_commits_early_what_was_written_outside_the_repositories(
    sqlite_database: Database,
) -> None:
    """The read-only transaction is ended only when it has changed nothing."""
    database = sqlite_database
    with database.unit_of_work() as work:
        assert work.customers.get_by_email("rosa@example.com") is None
        work.connection().execute(
            insert(tables.sites).values(
                id=uuid.uuid4(),
                slug="raw",
                business_name="Raw",
                status="preview",
                current_version=1,
                created_at=T0,
                updated_at=T0,
            )
        )
        work.customers.add(customer("rosa@example.com"))
        # Leaving without commit: both changes are rolled back together.
    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.sites)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(tables.customer_users)).scalar_one() == 0


def test_concurrent_read_then_write_use_cases_all_succeed(database: Database) -> None:
    """create_preview reads (is the slug free?) before it writes; so does this stand-in
    for register (is the address free?). Twelve at once, none fails."""
    sites = SiteService(uow=database.unit_of_work, clock=FakeClock())
    writers = 12
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def register(email: str) -> None:
        with database.unit_of_work() as work:
            if work.customers.get_by_email(email) is None:
                work.customers.add(customer(email))
                work.outbox.add(mail(email))
            work.commit()

    def run(index: int) -> None:
        try:
            barrier.wait()
            if index % 2:
                sites.create_preview(f"site-{index}", f"Site {index}", SiteContent(f"<p>{index}</p>"))
            else:
                register(f"owner{index}@example.com")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(sites.list_sites()) == writers // 2
    with database.unit_of_work() as work:
        assert sum(work.outbox.count_by_status().values()) == writers // 2
        for index in range(0, writers, 2):
            assert work.customers.get_by_email(f"owner{index}@example.com") is not None
