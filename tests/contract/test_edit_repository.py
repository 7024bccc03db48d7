"""The EditRepository port: one suite for the fake, SQLite and PostgreSQL; and workers
racing for pending edits on the real databases."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from contract_support import open_database

from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.edits_repository import edit_units_of_work
from webmagic_core.accounts.customers import Customer
from webmagic_core.edits.model import EditRequest, EditStatus
from webmagic_core.edits.ports import EditUnitOfWork
from webmagic_core.errors import Conflict
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.site_files import prepare_files
from webmagic_core.sites import Actor, Site, SiteContent
from webmagic_core.testing.edits import FakeEditUnitOfWorkFactory
from webmagic_core.testing.sites import new_version

T0 = dt.datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)

Factory = Callable[[], EditUnitOfWork]


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    if request.param == "fake":
        yield FakeEditUnitOfWorkFactory()
        return
    yield edit_units_of_work(open_database(request, request.param, tmp_path))


def add_site(uow: Factory, slug: str) -> tuple[Site, Customer]:
    owner = Customer.new(email=f"{slug}@example.com", now=T0)
    site = Site.new_preview(slug=slug, business_name=slug.title(), now=T0, actor=Actor.ADMIN, cause="test")
    site.sell(owner.id, cause="test", actor=Actor.SYSTEM, at=T0)
    with uow() as u:
        u.customers.add(owner)
        u.sites.add(site)
        u.sites.add_version(*new_version(site.id, 1, SiteContent("<h1>one</h1>"), created_at=T0))
        u.commit()
    return site, owner


def add_edit(
    uow: Factory, site: Site, owner: Customer, text: str = "Bigger title", *, at: dt.datetime = T0
) -> EditRequest:
    edit = EditRequest.new(site_id=site.id, customer_id=owner.id, instructions=text, now=at)
    with uow() as u:
        u.edits.add(edit)
        u.commit()
    return edit


def drafted(edit: EditRequest, html: str, at: dt.datetime) -> tuple[EditRequest, dict[str, bytes]]:
    prepared = prepare_files(SiteContent(html).files())
    edit.draft(base_version=1, summary="Made the title bigger", files=prepared.files, by="fake", now=at)
    return edit, prepared.bodies


def test_an_edit_round_trips_with_its_draft_files(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    edit = add_edit(uow, site, owner)
    with uow() as u:
        assert u.edits.get(edit.id) == edit
    edit, bodies = drafted(edit, "<h1>ONE</h1>", T0 + dt.timedelta(minutes=1))
    with uow() as u:
        u.edits.save(edit, bodies)
        u.commit()
    with uow() as u:
        loaded = u.edits.get(edit.id)
        assert loaded == edit
        assert loaded is not None
        assert loaded.status is EditStatus.READY
        (page,) = loaded.draft_files
        assert u.sites.get_body(page.digest) == b"<h1>ONE</h1>"
    with uow() as u:
        assert u.edits.get(uuid.uuid4()) is None


def test_save_without_add_is_a_lookup_error_and_add_twice_a_conflict(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    edit = EditRequest.new(site_id=site.id, customer_id=owner.id, instructions="x", now=T0)
    with uow() as u, pytest.raises(LookupError):
        u.edits.save(edit)
    add_edit_again = add_edit(uow, site, owner)
    with uow() as u, pytest.raises(Conflict):
        u.edits.add(add_edit_again)


def test_a_draft_body_must_be_given_or_stored(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    edit, _ = drafted(add_edit(uow, site, owner), "<h1>never stored</h1>", T0)
    with uow() as u, pytest.raises(ValueError, match="digest"):
        u.edits.save(edit, {})


def test_lists_are_newest_first_per_site_and_by_status(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    other, other_owner = add_site(uow, "florist")
    first = add_edit(uow, site, owner, "first", at=T0)
    second = add_edit(uow, site, owner, "second", at=T0 + dt.timedelta(seconds=1))
    tie = add_edit(uow, site, owner, "same instant", at=T0 + dt.timedelta(seconds=1))
    theirs = add_edit(uow, other, other_owner, "theirs", at=T0)
    with uow() as u:
        assert [e.id for e in u.edits.for_site(site.id)] == [tie.id, second.id, first.id]
        assert [e.id for e in u.edits.for_site(site.id, limit=1)] == [tie.id]
        assert [e.id for e in u.edits.for_site(other.id)] == [theirs.id]
        edit = u.edits.get(second.id, for_update=True)
        assert edit is not None
        edit.reject(T0)
        u.edits.save(edit)
        u.commit()
    with uow() as u:
        assert [e.id for e in u.edits.list(status=EditStatus.REJECTED)] == [second.id]
        assert len(u.edits.list()) == 4
        assert u.edits.count_by_status() == {EditStatus.PENDING: 3, EditStatus.REJECTED: 1}


def test_the_monthly_count_leaves_out_failed_requests_and_earlier_ones(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    month = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    add_edit(uow, site, owner, "april", at=month - dt.timedelta(microseconds=1))
    add_edit(uow, site, owner, "first of may", at=month)
    failed = add_edit(uow, site, owner, "failed", at=month + dt.timedelta(days=2))
    with uow() as u:
        edit = u.edits.get(failed.id)
        assert edit is not None
        edit.fail(reason="no", detail="no", now=month)
        u.edits.save(edit)
        u.commit()
    with uow() as u:
        assert u.edits.count_since(site.id, month) == 1
        assert u.edits.count_since(site.id, month - dt.timedelta(days=1)) == 2
        assert u.edits.count_since(uuid.uuid4(), month) == 0


def test_claims_take_the_oldest_free_pending_edit_and_honour_the_lease(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    old = add_edit(uow, site, owner, "old", at=T0)
    new = add_edit(uow, site, owner, "new", at=T0 + dt.timedelta(seconds=1))
    now = T0 + dt.timedelta(minutes=1)
    with uow() as u:
        first = u.edits.claim_next(now, LEASE, max_attempts=3)
        u.commit()
    with uow() as u:
        second = u.edits.claim_next(now, LEASE, max_attempts=3)
        none_left = u.edits.claim_next(now, LEASE, max_attempts=3)
        u.commit()
    assert first is not None
    assert second is not None
    assert (first.id, second.id, none_left) == (old.id, new.id, None)
    with uow() as u:
        stored = u.edits.get(old.id)
    assert stored is not None
    assert (stored.claim_id, stored.claimed_until, stored.attempts) == (first.claim_id, now + LEASE, 1)
    # The lease runs out: claimable again, by whoever asks first, with a new claim id.
    with uow() as u:
        again = u.edits.claim_next(now + LEASE, LEASE, max_attempts=3)
        u.commit()
    assert again is not None
    assert again.id == old.id
    assert again.attempts == 2
    assert again.claim_id != first.claim_id


def test_an_edit_claimed_max_attempts_times_is_no_longer_claimed_but_exhausted(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    edit = add_edit(uow, site, owner)
    now = T0
    for _ in range(2):
        with uow() as u:
            assert u.edits.claim_next(now, LEASE, max_attempts=2) is not None
            u.commit()
        now += LEASE
    with uow() as u:
        assert u.edits.claim_next(now, LEASE, max_attempts=2) is None
        assert [e.id for e in u.edits.exhausted(now, max_attempts=2)] == [edit.id]
        # Still held by the last claim: not exhausted until its lease ends.
        assert u.edits.exhausted(now - dt.timedelta(seconds=1), max_attempts=2) == []
        assert u.edits.exhausted(now, max_attempts=3) == []


def test_only_pending_edits_are_claimed(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    edit = add_edit(uow, site, owner)
    with uow() as u:
        loaded = u.edits.get(edit.id)
        assert loaded is not None
        loaded.reject(T0)
        u.edits.save(loaded)
        u.commit()
    with uow() as u:
        assert u.edits.claim_next(T0, LEASE, max_attempts=3) is None


def test_garbage_collection_keeps_the_bodies_a_draft_names(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    edit, bodies = drafted(add_edit(uow, site, owner), "<h1>draft only</h1>", T0)
    with uow() as u:
        u.edits.save(edit, bodies)
        u.commit()
    with uow() as u:
        u.sites.collect_garbage()
        u.commit()
    with uow() as u:
        (page,) = edit.draft_files
        assert u.sites.get_body(page.digest) == b"<h1>draft only</h1>"


def test_archived_sites_keep_their_edits_until_the_site_row_goes(uow: Factory) -> None:
    site, owner = add_site(uow, "bakery")
    edit = add_edit(uow, site, owner)
    with uow() as u:
        loaded = u.sites.get(site.id)
        assert loaded is not None
        loaded.apply(Trigger.ARCHIVED, cause="test", actor=Actor.ADMIN, at=T0)
        u.sites.save(loaded)
        u.commit()
    with uow() as u:
        assert u.edits.get(edit.id) is not None
        archived = u.sites.get(site.id)
        assert archived is not None
        assert archived.status is SiteStatus.ARCHIVED


# --- Workers racing on the real databases ----------------------------------------------------


def test_racing_workers_claim_each_of_50_pending_edits_exactly_once(database: Database) -> None:
    uow = edit_units_of_work(database)
    site, owner = add_site(uow, "bakery")
    pending = {
        add_edit(uow, site, owner, f"change {n}", at=T0 + dt.timedelta(seconds=n)).id for n in range(50)
    }
    claims: list[list[uuid.UUID]] = [[] for _ in range(4)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(mine: list[uuid.UUID]) -> None:
        start.wait()
        try:
            while True:
                with uow() as u:
                    edit = u.edits.claim_next(T0 + dt.timedelta(hours=1), LEASE, max_attempts=3)
                    u.commit()
                if edit is None:
                    return
                mine.append(edit.id)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(claims[n],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    claimed = [edit_id for mine in claims for edit_id in mine]
    assert sorted(claimed) == sorted(pending)  # every one, none twice
    assert sum(1 for mine in claims if mine) >= 2  # they really did share the work
