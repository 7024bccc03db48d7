"""The SiteRepository and UnitOfWork ports: one suite, run on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs
import pytest

from webmagic_core.errors import Conflict
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.ports import SiteHead, UnitOfWorkFactory
from webmagic_core.sites import Actor, Site, SiteContent, SiteVersion, SiteVersionSummary, VersionCause
from webmagic_core.testing.sites import new_version, page_of

T0 = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)


def new_site(slug: str, *, at: dt.datetime = T0, name: str | None = None) -> Site:
    return Site.new_preview(
        slug=slug, business_name=name or f"Business {slug}", now=at, actor=Actor.ADMIN, cause="created"
    )


def version(
    site: Site, number: int, html: str = "<h1>hello</h1>", *, at: dt.datetime = T0
) -> tuple[SiteVersion, dict[str, bytes]]:
    return new_version(
        site.id,
        number,
        SiteContent(html=html, css="h1{color:red}", js="console.log(1)"),
        cause=VersionCause.IMPORT if number == 1 else VersionCause.PUBLISH,
        note=f"version {number}",
        created_at=at,
    )


def store(uow: UnitOfWorkFactory, *sites: Site) -> None:
    with uow() as work:
        for site in sites:
            work.sites.add(site)
            work.sites.add_version(*version(site, 1, at=site.created_at))
        work.commit()


def test_added_site_reads_back_equal_by_id_and_slug(uow: UnitOfWorkFactory) -> None:
    site = new_site("rosas-bakery", name="Rosa's Bakery")
    store(uow, site)
    with uow() as work:
        assert work.sites.get(site.id) == site
        assert work.sites.get(site.id, for_update=True) == site
        assert work.sites.get_by_slug("rosas-bakery") == site
        assert work.sites.get_by_slug("rosas-bakery", for_update=True) == site


def test_unknown_ids_and_slugs_read_as_none(uow: UnitOfWorkFactory) -> None:
    store(uow, new_site("known"))
    with uow() as work:
        assert work.sites.get(uuid.uuid4()) is None
        assert work.sites.get(uuid.uuid4(), for_update=True) is None
        assert work.sites.get_by_slug("unknown") is None
        assert work.sites.get_by_slug("unknown", for_update=True) is None
        assert work.sites.head_by_slug("unknown") is None
        assert work.sites.get_version(uuid.uuid4(), 1) is None
        assert work.sites.list_versions(uuid.uuid4()) == []
        assert work.sites.events(uuid.uuid4()) == []


def test_add_writes_pending_events_and_clears_them(uow: UnitOfWorkFactory) -> None:
    site = new_site("alpha")
    (creation,) = site.pending_events
    store(uow, site)
    assert site.pending_events == []
    with uow() as work:
        assert work.sites.events(site.id) == [creation]
        loaded = work.sites.get(site.id)
        assert loaded is not None
        assert loaded.pending_events == []


def test_save_writes_changes_and_new_events(uow: UnitOfWorkFactory) -> None:
    site = new_site("alpha")
    store(uow, site)
    later = T0 + dt.timedelta(days=3)
    with uow() as work:
        loaded = work.sites.get_by_slug("alpha", for_update=True)
        assert loaded is not None
        paid = loaded.apply(
            Trigger.PURCHASE_PAID, cause="purchase paid", actor=Actor.WEBHOOK, at=later, reference="evt_123"
        )
        loaded.business_name = "Alpha & Sons"
        loaded.current_version = 2
        work.sites.add_version(*version(loaded, 2, at=later))
        work.sites.save(loaded)
        assert loaded.pending_events == []
        work.commit()

    with uow() as work:
        saved = work.sites.get(site.id)
        assert saved is not None
        assert (saved.status, saved.business_name, saved.current_version) == (
            SiteStatus.OWNED,
            "Alpha & Sons",
            2,
        )
        assert saved.created_at == T0
        assert saved.updated_at == later
        events = work.sites.events(site.id)
        assert [(e.from_status, e.to_status) for e in events] == [
            (None, SiteStatus.PREVIEW),
            (SiteStatus.PREVIEW, SiteStatus.OWNED),
        ]
        assert events[1] == paid
        assert (events[1].actor, events[1].reference, events[1].cause) == (
            Actor.WEBHOOK,
            "evt_123",
            "purchase paid",
        )


def test_saving_a_site_that_was_never_added_fails(uow: UnitOfWorkFactory) -> None:
    with uow() as work, pytest.raises(LookupError):
        work.sites.save(new_site("ghost"))


def test_duplicate_slug_is_a_conflict_and_the_unit_of_work_stays_usable(uow: UnitOfWorkFactory) -> None:
    first = new_site("taken")
    store(uow, first)
    with uow() as work:
        with pytest.raises(Conflict, match="taken"):
            work.sites.add(new_site("taken"))
        other = new_site("other")
        work.sites.add(other)
        work.commit()
    with uow() as work:
        assert [s.slug for s in work.sites.list()] == ["other", "taken"]
        assert work.sites.get_by_slug("taken") == first


def test_duplicate_slug_within_one_unit_of_work_is_a_conflict(uow: UnitOfWorkFactory) -> None:
    with uow() as work:
        work.sites.add(new_site("twice"))
        with pytest.raises(Conflict):
            work.sites.add(new_site("twice"))


def test_duplicate_version_is_a_conflict_and_keeps_the_first(uow: UnitOfWorkFactory) -> None:
    site = new_site("alpha")
    store(uow, site)
    with uow() as work:
        with pytest.raises(Conflict):
            work.sites.add_version(*version(site, 1, "<p>impostor</p>"))
        work.sites.add_version(*version(site, 2, "<p>two</p>"))
        work.commit()
    with uow() as work:
        first = work.sites.get_version(site.id, 1)
        assert first is not None
        assert page_of(work, first) == "<h1>hello</h1>"
        assert [v.number for v in work.sites.list_versions(site.id)] == [2, 1]


def test_version_summaries_list_newest_first_without_files(uow: UnitOfWorkFactory) -> None:
    site, other = new_site("alpha"), new_site("bravo")
    store(uow, site, other)
    later = T0 + dt.timedelta(hours=2, microseconds=5)
    edit_id = uuid.uuid4()
    with uow() as work:
        two, bodies = new_version(
            site.id,
            2,
            SiteContent(html="<p>two</p>"),
            cause=VersionCause.EDIT,
            note="new opening hours",
            created_by=Actor.CUSTOMER,
            created_at=later,
        )
        work.sites.add_version(attrs.evolve(two, edit_id=edit_id), bodies)
        work.sites.add_version(
            SiteVersion(site.id, 3, two.files, VersionCause.RESTORE, Actor.CUSTOMER, later, restored_from=1),
            {},
        )
        work.commit()
    with uow() as work:
        assert work.sites.version_summaries(site.id) == [
            SiteVersionSummary(
                number=3,
                created_at=later,
                cause=VersionCause.RESTORE,
                created_by=Actor.CUSTOMER,
                restored_from=1,
            ),
            SiteVersionSummary(
                number=2,
                created_at=later,
                cause=VersionCause.EDIT,
                created_by=Actor.CUSTOMER,
                note="new opening hours",
                edit_id=edit_id,
            ),
            SiteVersionSummary(
                number=1, created_at=T0, cause=VersionCause.IMPORT, created_by=Actor.ADMIN, note="version 1"
            ),
        ]
        restored = work.sites.get_version(site.id, 3)
        assert restored is not None
        assert restored.restored_from == 1
        assert restored.cause is VersionCause.RESTORE
        assert [v.number for v in work.sites.version_summaries(other.id)] == [1]
        assert work.sites.version_summaries(uuid.uuid4()) == []


def test_leaving_without_commit_rolls_back(uow: UnitOfWorkFactory) -> None:
    kept = new_site("kept")
    store(uow, kept)
    with uow() as work:
        work.sites.add(new_site("dropped"))
        loaded = work.sites.get_by_slug("kept", for_update=True)
        assert loaded is not None
        loaded.apply(Trigger.ARCHIVED, cause="archived", actor=Actor.ADMIN, at=T0)
        work.sites.save(loaded)
        work.sites.add_version(*version(loaded, 2))
        assert work.sites.get_by_slug("dropped") is not None  # visible inside its own transaction
    with uow() as work:
        assert work.sites.get_by_slug("dropped") is None
        assert work.sites.get_by_slug("kept") == kept
        assert [v.number for v in work.sites.list_versions(kept.id)] == [1]
        assert len(work.sites.events(kept.id)) == 1


def test_explicit_rollback_discards_the_changes(uow: UnitOfWorkFactory) -> None:
    with uow() as work:
        work.sites.add(new_site("dropped"))
        work.rollback()
    with uow() as work:
        assert work.sites.list() == []


def test_an_exception_in_the_block_rolls_back_and_propagates(uow: UnitOfWorkFactory) -> None:
    class Boom(Exception):
        pass

    def fail_half_way() -> None:
        with uow() as work:
            work.sites.add(new_site("dropped"))
            raise Boom

    with pytest.raises(Boom):
        fail_half_way()
    with uow() as work:
        assert work.sites.get_by_slug("dropped") is None


def test_commit_makes_changes_visible_to_later_units_of_work(uow: UnitOfWorkFactory) -> None:
    site = new_site("alpha")
    with uow() as work:
        work.sites.add(site)
        work.commit()
    with uow() as work:
        assert work.sites.get(site.id) == site


def test_list_orders_by_slug_and_filters_by_status(uow: UnitOfWorkFactory) -> None:
    slugs = ["bravo", "al-pha", "alpha", "alp-ha", "alpha2", "zulu"]
    sites = {slug: new_site(slug) for slug in slugs}
    for slug in ("alpha", "zulu"):
        sites[slug].apply(Trigger.ARCHIVED, cause="archived", actor=Actor.ADMIN, at=T0)
    store(uow, *sites.values())
    with uow() as work:
        assert [s.slug for s in work.sites.list()] == sorted(slugs)
        assert [s.slug for s in work.sites.list(status=SiteStatus.ARCHIVED)] == ["alpha", "zulu"]
        assert [s.slug for s in work.sites.list(status=SiteStatus.PREVIEW)] == [
            "al-pha",
            "alp-ha",
            "alpha2",
            "bravo",
        ]
        assert work.sites.list(status=SiteStatus.ACTIVE) == []
        assert work.sites.list()[0] == sites["al-pha"]


def test_count_by_status_counts_only_present_statuses(uow: UnitOfWorkFactory) -> None:
    with uow() as work:
        assert work.sites.count_by_status() == {}
    sites = [new_site(f"site-{i}") for i in range(5)]
    sites[0].apply(Trigger.ARCHIVED, cause="archived", actor=Actor.ADMIN, at=T0)
    sites[1].apply(Trigger.PURCHASE_PAID, cause="paid", actor=Actor.WEBHOOK, at=T0)
    sites[2].apply(Trigger.PURCHASE_PAID, cause="paid", actor=Actor.WEBHOOK, at=T0)
    store(uow, *sites)
    with uow() as work:
        assert work.sites.count_by_status() == {
            SiteStatus.PREVIEW: 2,
            SiteStatus.OWNED: 2,
            SiteStatus.ARCHIVED: 1,
        }


def test_head_by_slug_returns_what_hosting_needs(uow: UnitOfWorkFactory) -> None:
    site = new_site("joes-pizza", name="Joe's Pizza")
    store(uow, site)
    with uow() as work:
        assert work.sites.head_by_slug("joes-pizza") == SiteHead(
            id=site.id,
            slug="joes-pizza",
            business_name="Joe's Pizza",
            status=SiteStatus.PREVIEW,
            current_version=1,
        )


def test_head_by_slug_sees_archived_sites(uow: UnitOfWorkFactory) -> None:
    site = new_site("gone")
    site.apply(Trigger.ARCHIVED, cause="archived", actor=Actor.ADMIN, at=T0)
    store(uow, site)
    with uow() as work:
        head = work.sites.head_by_slug("gone")
        assert head is not None
        assert head.status is SiteStatus.ARCHIVED


def test_versions_are_listed_newest_first_and_read_back_whole(uow: UnitOfWorkFactory) -> None:
    site = new_site("alpha")
    other = new_site("other")
    store(uow, site, other)
    with uow() as work:
        for number in (2, 3, 4):
            work.sites.add_version(
                *version(site, number, f"<p>{number}</p>", at=T0 + dt.timedelta(hours=number))
            )
        work.commit()
    with uow() as work:
        versions = work.sites.list_versions(site.id)
        assert [v.number for v in versions] == [4, 3, 2, 1]
        assert versions[0] == version(site, 4, "<p>4</p>", at=T0 + dt.timedelta(hours=4))[0]
        assert (
            work.sites.get_version(site.id, 3)
            == version(site, 3, "<p>3</p>", at=T0 + dt.timedelta(hours=3))[0]
        )
        assert page_of(work, versions[0]) == "<p>4</p>"
        assert work.sites.get_version(site.id, 5) is None
        assert [v.number for v in work.sites.list_versions(other.id)] == [1]


def test_events_are_listed_oldest_first_even_at_the_same_instant(uow: UnitOfWorkFactory) -> None:
    site = new_site("alpha")
    store(uow, site)
    steps = [
        (Trigger.PURCHASE_PAID, T0),  # same instant as the creation
        (Trigger.SUBSCRIPTION_STARTED, T0),
        (Trigger.RENEWAL_FAILED, T0 + dt.timedelta(seconds=1)),
        (Trigger.PAYMENT_RECOVERED, T0 + dt.timedelta(seconds=1)),
        (Trigger.PAUSED, T0 + dt.timedelta(days=40)),
    ]
    for trigger, at in steps:
        with uow() as work:
            loaded = work.sites.get(site.id)
            assert loaded is not None
            loaded.apply(trigger, cause=trigger.value, actor=Actor.SYSTEM, at=at)
            work.sites.save(loaded)
            work.commit()
    with uow() as work:
        events = work.sites.events(site.id)
    assert [e.to_status for e in events] == [
        SiteStatus.PREVIEW,
        SiteStatus.OWNED,
        SiteStatus.ACTIVE,
        SiteStatus.PAST_DUE,
        SiteStatus.ACTIVE,
        SiteStatus.SUSPENDED,
    ]
    assert [e.occurred_at for e in events] == [T0, *(at for _, at in steps)]


def test_datetimes_round_trip_as_utc_aware_with_microseconds(uow: UnitOfWorkFactory) -> None:
    created = dt.datetime(2026, 7, 14, 23, 59, 59, 999999, tzinfo=dt.UTC)
    site = new_site("alpha", at=created)
    store(uow, site)
    with uow() as work:
        loaded = work.sites.get(site.id)
        assert loaded is not None
        (event,) = work.sites.events(site.id)
        (first,) = work.sites.list_versions(site.id)
    for value in (loaded.created_at, loaded.updated_at, event.occurred_at, first.created_at):
        assert value == created
        assert value.utcoffset() == dt.timedelta(0)


def test_unicode_and_large_files_round_trip(uow: UnitOfWorkFactory) -> None:
    name = "Café Ñandú — 東京ラーメン 🍜"
    site = new_site("cafe", name=name)
    block = "<p>Olá, wörld — 東京 🍜 \u2028 \t 'quotes' \"double\" \\ backslash</p>\n"
    html = "<!doctype html>" + block * (1_000_000 // len(block.encode()))
    assert len(html.encode()) > 990_000
    big, bodies = new_version(
        site.id,
        2,
        SiteContent(html=html, css="body::after{content:'✓ ünïcode'}", js="alert('ひらがな');"),
        note="big edit — ✓",
        created_by=Actor.CUSTOMER,
        created_at=T0,
    )
    store(uow, site)
    with uow() as work:
        work.sites.add_version(big, bodies)
        work.commit()
    with uow() as work:
        assert work.sites.get_version(site.id, 2) == big
        assert page_of(work, big) == html
        head = work.sites.head_by_slug("cafe")
        assert head is not None
        assert head.business_name == name


def test_a_200_character_business_name_fits(uow: UnitOfWorkFactory) -> None:
    name = "é" * 199 + "🍜"
    store(uow, new_site("long-name", name=name))
    with uow() as work:
        loaded = work.sites.get_by_slug("long-name")
        assert loaded is not None
        assert loaded.business_name == name
