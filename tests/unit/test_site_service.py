"""Site use cases against the in-memory fakes."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webmagic_core.errors import Conflict, InvalidTransition, NotFound, ValidationError
from webmagic_core.lifecycle import ServeMode, SiteStatus, Trigger
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import MAX_HTML_BYTES, Actor, SiteContent, VersionCause
from webmagic_core.slugs import RESERVED, is_valid_slug, validate_slug
from webmagic_core.testing import FakeClock, FakeUnitOfWorkFactory

HTML = SiteContent("<h1>Rosa's Bakery</h1>", css="h1{color:red}", js="console.log(1)")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def uow() -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


@pytest.fixture
def service(uow: FakeUnitOfWorkFactory, clock: FakeClock) -> SiteService:
    return SiteService(uow=uow, clock=clock)


def test_create_preview_stores_site_version_and_event(service: SiteService, clock: FakeClock) -> None:
    site = service.create_preview("rosas-bakery", "  Rosa's   Bakery ", HTML)
    details = service.details("rosas-bakery")
    assert details.site.id == site.id
    assert details.site.business_name == "Rosa's Bakery"
    assert details.site.status is SiteStatus.PREVIEW
    assert [v.number for v in details.versions] == [1]
    assert [f.path for f in details.versions[0].files] == ["app.js", "index.html", "styles.css"]
    assert service.version_files(site.id, 1)[1].bodies == HTML.files().bodies
    [event] = details.events
    assert (event.from_status, event.to_status, event.actor) == (None, SiteStatus.PREVIEW, Actor.ADMIN)
    assert event.occurred_at == clock.now()


def test_taken_slug_is_a_conflict_and_writes_nothing(
    service: SiteService, uow: FakeUnitOfWorkFactory
) -> None:
    service.create_preview("rosas-bakery", "Rosa", HTML)
    commits = uow.commits
    with pytest.raises(Conflict, match="already taken"):
        service.create_preview("rosas-bakery", "Other", HTML)
    assert uow.commits == commits
    assert len(service.list_sites()) == 1


def test_archived_slug_stays_taken(service: SiteService) -> None:
    service.create_preview("rosas-bakery", "Rosa", HTML)
    service.archive("rosas-bakery")
    with pytest.raises(Conflict):
        service.create_preview("rosas-bakery", "Rosa again", HTML)


@pytest.mark.parametrize(
    "slug", ["ab", "a" * 64, "Upper", "double--hyphen", "-lead", "trail-", "sp ace", "ünï", "api"]
)
def test_bad_slugs_are_refused_with_the_rule(service: SiteService, slug: str) -> None:
    with pytest.raises(ValidationError) as info:
        service.create_preview(slug, "Name", HTML)
    assert info.value.field == "slug"
    assert (
        "reserved" in info.value.detail or "lowercase letters, digits and single hyphens" in info.value.detail
    )
    assert service.list_sites() == []


def test_every_reserved_word_is_refused() -> None:
    for word in RESERVED:
        assert not is_valid_slug(word), word


@given(st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,3}", fullmatch=True))
def test_well_formed_slugs_are_accepted_unless_reserved_or_short(slug: str) -> None:
    assert is_valid_slug(slug) == (len(slug) >= 3 and slug not in RESERVED)
    if is_valid_slug(slug):
        assert validate_slug(slug) == slug


def test_publish_adds_a_version_and_keeps_the_old(service: SiteService, clock: FakeClock) -> None:
    service.create_preview("rosas-bakery", "Rosa", HTML)
    clock.advance(dt.timedelta(hours=1))
    version = service.publish("rosas-bakery", SiteContent("<h1>v2</h1>"), cause="new menu")
    assert version.number == 2
    details = service.details("rosas-bakery")
    assert details.site.current_version == 2
    assert [v.number for v in details.versions] == [2, 1]
    assert (details.versions[0].cause, details.versions[0].note) == (VersionCause.PUBLISH, "new menu")
    assert service.version_files(details.site.id, 1)[1].bodies == HTML.files().bodies
    assert service.version_files(details.site.id, 2)[1].bodies == {"index.html": b"<h1>v2</h1>"}
    assert details.site.updated_at == clock.now()


def test_publish_to_unknown_or_archived_site_is_not_found(service: SiteService) -> None:
    with pytest.raises(NotFound):
        service.publish("nobody-here", HTML)
    service.create_preview("rosas-bakery", "Rosa", HTML)
    service.archive("rosas-bakery")
    with pytest.raises(NotFound):
        service.publish("rosas-bakery", HTML)


def test_archive_records_the_transition(service: SiteService) -> None:
    service.create_preview("rosas-bakery", "Rosa", HTML)
    service.archive("rosas-bakery", cause="customer asked")
    details = service.details("rosas-bakery")
    assert details.site.status is SiteStatus.ARCHIVED
    assert [(e.from_status, e.to_status, e.cause) for e in details.events][-1] == (
        SiteStatus.PREVIEW,
        SiteStatus.ARCHIVED,
        "customer asked",
    )
    with pytest.raises(NotFound):
        service.archive("rosas-bakery")


def test_resolve_follows_the_lifecycle(
    service: SiteService, uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    site = service.create_preview("rosas-bakery", "Rosa", HTML)
    assert service.resolve("rosas-bakery").mode is ServeMode.WITH_BANNER
    for trigger, mode in [
        (Trigger.PURCHASE_PAID, ServeMode.CLEAN),
        (Trigger.SUBSCRIPTION_STARTED, ServeMode.CLEAN),
        (Trigger.RENEWAL_FAILED, ServeMode.CLEAN),
        (Trigger.SUBSCRIPTION_ENDED, ServeMode.UNAVAILABLE),
        (Trigger.ARCHIVED, ServeMode.NOT_FOUND),
    ]:
        with uow() as tx:
            loaded = tx.sites.get(site.id)
            assert loaded is not None
            loaded.apply(trigger, cause="test", actor=Actor.SYSTEM, at=clock.now())
            tx.sites.save(loaded)
            tx.commit()
        resolution = service.resolve("rosas-bakery")
        assert resolution.mode is mode
        assert (resolution.site is None) == (mode is ServeMode.NOT_FOUND)
    assert service.resolve("never-was").mode is ServeMode.NOT_FOUND


def test_illegal_transition_leaves_the_store_untouched(
    service: SiteService, uow: FakeUnitOfWorkFactory
) -> None:
    site = service.create_preview("rosas-bakery", "Rosa", HTML)
    with uow() as tx:
        loaded = tx.sites.get(site.id)
        assert loaded is not None
        with pytest.raises(InvalidTransition):
            loaded.apply(Trigger.SUBSCRIPTION_STARTED, cause="x", actor=Actor.SYSTEM, at=site.created_at)
        assert loaded.pending_events == []
        tx.commit()
    assert len(service.details("rosas-bakery").events) == 1


def test_uncommitted_work_is_rolled_back(service: SiteService, uow: FakeUnitOfWorkFactory) -> None:
    site = service.create_preview("rosas-bakery", "Rosa", HTML)
    with uow() as tx:
        loaded = tx.sites.get(site.id)
        assert loaded is not None
        loaded.business_name = "Changed"
        tx.sites.save(loaded)
    assert service.details("rosas-bakery").site.business_name == "Rosa"


def test_list_filters_by_status(service: SiteService) -> None:
    for slug in ("charlie-co", "alpha-co", "bravo-co"):
        service.create_preview(slug, slug, HTML)
    service.archive("bravo-co")
    assert [s.slug for s in service.list_sites()] == ["alpha-co", "bravo-co", "charlie-co"]
    assert [s.slug for s in service.list_sites(status=SiteStatus.PREVIEW)] == ["alpha-co", "charlie-co"]


class TestSiteContent:
    def test_empty_html_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="empty"):
            SiteContent("   \n")

    def test_non_utf8_is_refused_naming_the_file(self) -> None:
        with pytest.raises(ValidationError, match=r"HTML is not valid UTF-8") as info:
            SiteContent.from_bytes(b"<p>caf\xe9</p>")
        assert info.value.field == "html"
        with pytest.raises(ValidationError, match="CSS is not valid UTF-8"):
            SiteContent.from_bytes(b"<p>ok</p>", css=b"\xff")

    def test_oversize_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="limit"):
            SiteContent.from_bytes(b"x" * (MAX_HTML_BYTES + 1))

    def test_bom_is_dropped(self) -> None:
        assert SiteContent.from_bytes("\ufeff<p>hi</p>".encode()).html == "<p>hi</p>"


def test_business_name_rules(service: SiteService) -> None:
    with pytest.raises(ValidationError, match="business name is empty"):
        service.create_preview("rosas-bakery", "   ", HTML)
    with pytest.raises(ValidationError, match="longer than 200"):
        service.create_preview("rosas-bakery", "x" * 201, HTML)


def sell(uow: FakeUnitOfWorkFactory, slug: str, owner: uuid.UUID, clock: FakeClock) -> None:
    with uow() as work:
        site = work.sites.get_by_slug(slug, for_update=True)
        assert site is not None
        site.sell(owner, cause="purchase paid", actor=Actor.WEBHOOK, at=clock.now())
        work.sites.save(site)
        work.commit()


def test_owned_sites_are_only_the_customers_live_ones(
    service: SiteService, uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    rosa, joe = uuid.uuid4(), uuid.uuid4()
    for slug in ("zeta-bakery", "alpha-bakery", "old-bakery", "joes-pizza", "preview-only"):
        service.create_preview(slug, slug, HTML)
    for slug in ("zeta-bakery", "alpha-bakery", "old-bakery"):
        sell(uow, slug, rosa, clock)
    sell(uow, "joes-pizza", joe, clock)
    service.archive("old-bakery")

    assert [s.slug for s in service.owned_by(rosa)] == ["alpha-bakery", "zeta-bakery"]
    assert service.owned_site(rosa, "alpha-bakery").owner_id == rosa
    unknown = "no site has the slug 'nowhere'"
    with pytest.raises(NotFound) as error:
        service.owned_site(rosa, "nowhere")
    assert error.value.detail == unknown
    # Another's site, a preview and an archived site answer exactly like an unknown slug.
    for slug in ("joes-pizza", "preview-only", "old-bakery"):
        with pytest.raises(NotFound) as error:
            service.owned_site(rosa, slug)
        assert error.value.detail == f"no site has the slug {slug!r}"
        with pytest.raises(NotFound):
            service.owned_versions(rosa, slug)


def test_owned_versions_lists_summaries_newest_first(
    service: SiteService, uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    owner = uuid.uuid4()
    service.create_preview("rosas-bakery", "Rosa", HTML)
    sell(uow, "rosas-bakery", owner, clock)
    clock.advance(dt.timedelta(minutes=5))
    service.publish("rosas-bakery", HTML, actor=Actor.CUSTOMER, cause="edited")

    history = service.owned_versions(owner, "rosas-bakery")
    assert history.site.current_version == 2
    assert [(v.number, v.cause, v.created_by) for v in history.versions] == [
        (2, VersionCause.PUBLISH, Actor.CUSTOMER),
        (1, VersionCause.IMPORT, Actor.ADMIN),
    ]
    assert history.versions[0].created_at == clock.now()
