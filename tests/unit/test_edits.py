"""The edit service against fakes: asking (quota, suspended sites, other owners), drafting
by a worker or an operator, approval (never over newer work), rejection, restore, preview
links, failures and their mails; and a state machine against a model of the live version."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from webmagic_adapters.mail.templates import JinjaEmailRenderer
from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.edits.model import EditStatus
from webmagic_core.edits.ports import Draft, EditFailed
from webmagic_core.errors import Conflict, InvalidTransition, NotFound, Throttled, ValidationError
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.services.edits import EditConfig, EditService, next_month_start
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import Actor, Site, SiteContent, VersionCause
from webmagic_core.testing import FakeClock
from webmagic_core.testing.edits import FakeEditEngine, FakeEditUnitOfWorkFactory, FakePreviewLinks

ADMIN = "ops@webmagic.test"
PAGE = "<!doctype html><html><head><title>Sunrise</title></head><body><h1>Sunrise Bakery</h1></body></html>"


class World:
    def __init__(self, *, per_month: int = 10, engine: FakeEditEngine | None = None) -> None:
        self.clock = FakeClock(dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC))
        self.uow = FakeEditUnitOfWorkFactory()
        self.sites = SiteService(uow=self.uow, clock=self.clock, rewriter=ParserSiteRewriter())
        self.engine = engine or FakeEditEngine()
        self.links = FakePreviewLinks(self.clock)
        self.service = EditService(
            uow=self.uow,
            clock=self.clock,
            sites=self.sites,
            engine=self.engine,
            links=self.links,
            config=EditConfig(
                per_month=per_month,
                site_url=lambda slug: f"https://sites.webmagic.test/{slug}",
                manage_url=lambda slug: f"https://app.webmagic.test/portal/sites/{slug}",
                preview_url=lambda token: f"https://sites.webmagic.test/_preview/{token}/",
                admin_email=ADMIN,
            ),
        )
        self.owner = self.add_owner("rosa@example.com")
        self.site = self.add_site("sunrise-bakery", self.owner)

    def add_owner(self, email: str) -> Customer:
        owner = Customer.new(email=email, password_hash="x", now=self.clock.now(), full_name="Rosa")
        with self.uow() as uow:
            uow.customers.add(owner)
            uow.commit()
        return owner

    def add_site(self, slug: str, owner: Customer) -> Site:
        self.sites.create_preview(slug, "Sunrise Bakery", SiteContent(PAGE, css="h1{color:red}"))
        with self.uow() as uow:
            site = uow.sites.get_by_slug(slug)
            assert site is not None
            site.sell(owner.id, cause="t", actor=Actor.SYSTEM, at=self.clock.now())
            uow.sites.save(site)
            uow.commit()
        return site

    def set_status(self, trigger: Trigger) -> None:
        with self.uow() as uow:
            site = uow.sites.get(self.site.id)
            assert site is not None
            site.apply(trigger, cause="t", actor=Actor.SYSTEM, at=self.clock.now())
            uow.sites.save(site)
            uow.commit()

    def ask(self, text: str = "Make the title say 'Fresh bread daily'") -> uuid.UUID:
        return self.service.request(self.owner.id, self.site.slug, text).edit.id

    def live(self) -> tuple[int, str]:
        with self.uow() as uow:
            site = uow.sites.get(self.site.id)
        assert site is not None
        return site.current_version, self.sites.text_files(site.id, site.current_version)["index.html"]

    def status(self, edit_id: uuid.UUID) -> EditStatus:
        return self.service.get(self.owner.id, self.site.slug, edit_id).edit.status

    def mails(self, template: EmailTemplate) -> list[str]:
        with self.uow() as uow:
            return [m.message.to for m in uow.outbox.list(limit=1000) if m.message.template is template]


def test_asking_queues_a_pending_edit_and_changes_nothing_live() -> None:
    world = World()
    before = world.live()
    view = world.service.request(world.owner.id, world.site.slug, "  Add our phone number: 555-0100  ")
    assert view.edit.status is EditStatus.PENDING
    assert view.edit.instructions == "Add our phone number: 555-0100"
    assert view.preview_url is None
    assert world.live() == before
    assert [v.edit.id for v in world.service.of_site(world.owner.id, world.site.slug)] == [view.edit.id]


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
def test_instructions_must_be_1_to_4000_characters(text: str) -> None:
    world = World()
    with pytest.raises(ValidationError, match="instructions"):
        world.service.request(world.owner.id, world.site.slug, text)
    world.service.request(world.owner.id, world.site.slug, "x" * 4000)


def test_another_customers_site_and_edit_look_unknown() -> None:
    world = World()
    edit_id = world.ask()
    stranger = world.add_owner("eve@example.com")
    theirs = world.add_site("eve-florist", stranger)
    with pytest.raises(NotFound):
        world.service.request(stranger.id, world.site.slug, "mine now")
    with pytest.raises(NotFound):
        world.service.get(stranger.id, world.site.slug, edit_id)
    with pytest.raises(NotFound):  # the right owner, the edit of another site
        world.service.get(stranger.id, theirs.slug, edit_id)
    with pytest.raises(NotFound):
        world.service.approve(stranger.id, theirs.slug, edit_id)
    with pytest.raises(NotFound):
        world.service.reject(stranger.id, world.site.slug, edit_id)
    with pytest.raises(NotFound):
        world.service.restore(stranger.id, world.site.slug, 1)
    assert world.status(edit_id) is EditStatus.PENDING


def test_a_suspended_site_cannot_ask_approve_or_restore() -> None:
    world = World()
    world.service.work()
    edit_id = world.ask()
    world.service.work()
    world.set_status(Trigger.HOSTING_EXPIRED)  # suspended
    with pytest.raises(Conflict, match="suspended"):
        world.ask()
    with pytest.raises(Conflict, match="suspended"):
        world.service.approve(world.owner.id, world.site.slug, edit_id)
    with pytest.raises(Conflict, match="suspended"):
        world.service.restore(world.owner.id, world.site.slug, 1)
    assert world.live()[0] == 1
    assert world.status(edit_id) is EditStatus.READY


def test_past_due_and_active_sites_may_ask() -> None:
    world = World()
    world.set_status(Trigger.SUBSCRIPTION_STARTED)
    world.ask()
    world.set_status(Trigger.RENEWAL_FAILED)
    world.ask()


def test_the_monthly_quota_counts_per_site_and_calendar_month_utc() -> None:
    world = World(per_month=2)
    first = world.ask()
    world.ask()
    with pytest.raises(Throttled) as refused:
        world.ask()
    start = next_month_start(world.clock.now())
    assert start == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert refused.value.retry_after == int((start - world.clock.now()).total_seconds())
    # A failed request gives its place back.
    world.service.operator_fail(first, "We need a photo first.")
    world.ask()
    with pytest.raises(Throttled):
        world.ask()
    world.clock.current = start - dt.timedelta(microseconds=1)
    with pytest.raises(Throttled):
        world.ask()
    world.clock.current = start
    world.ask()


def test_december_rolls_over_to_january() -> None:
    assert next_month_start(dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC)) == dt.datetime(
        2027, 1, 1, tzinfo=dt.UTC
    )


def test_a_worker_drafts_a_pending_edit_and_mails_the_preview_link() -> None:
    world = World()
    edit_id = world.ask("Add the words Fresh bread daily")
    (outcome,) = world.service.work()
    assert (outcome.edit_id, outcome.status) == (edit_id, EditStatus.READY)
    view = world.service.get(world.owner.id, world.site.slug, edit_id)
    assert view.edit.base_version == 1
    assert view.edit.summary == "Added: Add the words Fresh bread daily"
    assert view.edit.drafted_by == "fake"
    assert view.preview_url is not None
    assert world.links.edit_id(view.preview_url.split("/")[-2]) == edit_id
    assert world.mails(EmailTemplate.EDIT_READY) == ["rosa@example.com"]
    # The draft keeps the files it did not change, and the live site is untouched.
    paths = sorted(f.path for f in view.edit.draft_files)
    assert paths == ["index.html", "styles.css"]
    assert world.live()[0] == 1
    diff = world.service.diff(view.edit)
    assert diff is not None
    assert [f.name for f in diff] == ["index.html"]
    assert "+" in diff[0].unified_diff
    assert "Fresh bread daily" in diff[0].unified_diff
    assert world.service.work() == []


def test_approving_makes_the_draft_live_as_a_new_version_with_its_cause() -> None:
    world = World()
    edit_id = world.ask("Add the words Fresh bread daily")
    world.service.work()
    world.clock.advance(dt.timedelta(minutes=5))
    view = world.service.approve(world.owner.id, world.site.slug, edit_id)
    assert view.edit.status is EditStatus.APPLIED
    assert view.edit.version == 2
    number, page = world.live()
    assert number == 2
    assert "Fresh bread daily" in page
    version = world.sites.version(world.site.id, 2)
    assert (version.cause, version.edit_id, version.created_by) == (
        VersionCause.EDIT,
        edit_id,
        Actor.CUSTOMER,
    )
    assert world.mails(EmailTemplate.EDIT_APPLIED) == ["rosa@example.com"]
    events = world.sites.details(world.site.slug).events
    assert events[-1].reference == str(edit_id)
    assert events[-1].from_status is events[-1].to_status is SiteStatus.OWNED
    with pytest.raises(InvalidTransition):  # once
        world.service.approve(world.owner.id, world.site.slug, edit_id)


def test_a_draft_made_before_another_version_went_live_is_never_approved() -> None:
    world = World()
    first, second = world.ask("one"), world.ask("two")
    world.service.work()
    world.service.approve(world.owner.id, world.site.slug, first)
    before = world.live()
    with pytest.raises(Conflict, match="changed since this draft"):
        world.service.approve(world.owner.id, world.site.slug, second)
    assert world.live() == before
    assert world.status(second) is EditStatus.READY
    # An operator's publish or a restore moves the live version on as well.
    third = world.ask("three")
    world.service.work()
    world.sites.publish(world.site.slug, SiteContent(PAGE.replace("Sunrise", "Sunset")))
    with pytest.raises(Conflict):
        world.service.approve(world.owner.id, world.site.slug, third)
    fourth = world.ask("four")
    world.service.work()
    world.service.restore(world.owner.id, world.site.slug, 1)
    with pytest.raises(Conflict):
        world.service.approve(world.owner.id, world.site.slug, fourth)


def test_only_a_ready_edit_is_approved_and_pending_or_ready_rejected() -> None:
    world = World()
    pending = world.ask()
    with pytest.raises(InvalidTransition):
        world.service.approve(world.owner.id, world.site.slug, pending)
    assert world.service.reject(world.owner.id, world.site.slug, pending).edit.status is EditStatus.REJECTED
    with pytest.raises(InvalidTransition):
        world.service.reject(world.owner.id, world.site.slug, pending)
    ready = world.ask()
    world.service.work()
    world.service.reject(world.owner.id, world.site.slug, ready)
    with pytest.raises(InvalidTransition):
        world.service.approve(world.owner.id, world.site.slug, ready)
    assert world.live()[0] == 1


def test_restore_adds_a_version_with_the_old_files_and_keeps_history() -> None:
    world = World()
    edit_id = world.ask("Add Fresh bread daily")
    world.service.work()
    world.service.approve(world.owner.id, world.site.slug, edit_id)
    _, original = 1, world.sites.text_files(world.site.id, 1)["index.html"]
    version = world.service.restore(world.owner.id, world.site.slug, 1)
    assert (version.number, version.cause, version.restored_from) == (3, VersionCause.RESTORE, 1)
    assert world.live() == (3, original)
    assert [v.number for v in world.sites.details(world.site.slug).versions] == [3, 2, 1]
    with pytest.raises(NotFound):
        world.service.restore(world.owner.id, world.site.slug, 9)


def test_the_preview_link_shows_the_draft_until_it_expires_or_is_decided() -> None:
    world = World()
    edit_id = world.ask()
    world.service.work()
    view = world.service.get(world.owner.id, world.site.slug, edit_id)
    assert view.preview_url is not None
    token = view.preview_url.split("/")[-2]
    preview = world.service.preview(token)
    assert (preview.edit.id, preview.slug) == (edit_id, world.site.slug)
    with pytest.raises(NotFound):
        world.service.preview(token[:-1] + ("0" if token[-1] != "0" else "1"))
    world.clock.advance(dt.timedelta(days=7, seconds=1))
    with pytest.raises(NotFound):
        world.service.preview(token)
    fresh = world.service.get(world.owner.id, world.site.slug, edit_id).preview_url
    assert fresh is not None
    fresh_token = fresh.split("/")[-2]
    world.service.preview(fresh_token)
    world.service.reject(world.owner.id, world.site.slug, edit_id)
    with pytest.raises(NotFound):
        world.service.preview(fresh_token)


def test_an_engine_failure_fails_the_edit_and_tells_owner_and_operators() -> None:
    engine = FakeEditEngine([EditFailed("We could not do it.", "HTTP 500 three times")])
    world = World(engine=engine)
    edit_id = world.ask()
    (outcome,) = world.service.work()
    assert outcome.status is EditStatus.FAILED
    edit = world.service.get(world.owner.id, world.site.slug, edit_id).edit
    assert (edit.reason, edit.detail) == ("We could not do it.", "HTTP 500 three times")
    assert world.mails(EmailTemplate.EDIT_FAILED) == ["rosa@example.com"]
    assert world.mails(EmailTemplate.ANOMALY_ALERT) == [ADMIN]
    assert world.live()[0] == 1


def test_an_unacceptable_draft_from_an_engine_fails_the_edit() -> None:
    bad = Draft(summary="oops", files={"index.html": "<html><body><script>never closed"})
    world = World(engine=FakeEditEngine([bad]))
    edit_id = world.ask()
    world.service.work()
    edit = world.service.get(world.owner.id, world.site.slug, edit_id).edit
    assert edit.status is EditStatus.FAILED
    assert edit.detail is not None
    assert "never closed" in edit.detail


def test_the_manual_engine_leaves_edits_to_operators() -> None:
    world = World(engine=FakeEditEngine(automatic=False))
    edit_id = world.ask()
    assert world.service.work() == []
    assert world.status(edit_id) is EditStatus.PENDING
    files = world.service.current_files(edit_id)
    view = world.service.operator_draft(
        edit_id,
        {"index.html": files["index.html"].replace("Sunrise Bakery", "Sunrise Bakery & Café")},
        "Renamed",
    )
    assert view.edit.status is EditStatus.READY
    assert view.edit.drafted_by == "operator"
    with pytest.raises(Conflict):
        world.service.operator_draft(edit_id, {"index.html": PAGE}, "again")
    other = world.ask()
    with pytest.raises(ValidationError, match="not acceptable"):
        world.service.operator_draft(other, {"index.html": "<p>no document</p>"}, "bad")
    with pytest.raises(ValidationError, match="new origin"):
        world.service.operator_draft(
            other,
            {"index.html": PAGE.replace("</body>", '<script src="https://evil.test/x.js"></script></body>')},
            "x",
        )
    assert world.status(other) is EditStatus.PENDING


def test_a_worker_that_lost_its_claim_never_stores_a_second_draft() -> None:
    world = World()
    edit_id = world.ask()

    def slow(request: object) -> Draft:
        # Meanwhile the lease ran out, another worker drafted it.
        world.clock.advance(dt.timedelta(minutes=6))
        inner = EditService(
            uow=world.uow,
            clock=world.clock,
            sites=world.sites,
            engine=FakeEditEngine(name="other"),
            links=world.links,
            config=world.service.config,
        )
        assert inner.work_once() is not None
        return Draft(summary="late", files={"index.html": PAGE.replace("Sunrise", "Late")})

    world.engine.replies.append(slow)
    outcome = world.service.work_once()
    assert outcome is not None
    edit = world.service.get(world.owner.id, world.site.slug, edit_id).edit
    assert (edit.status, edit.drafted_by) == (EditStatus.READY, "other")
    assert world.mails(EmailTemplate.EDIT_READY) == ["rosa@example.com"]  # one mail, one draft


def test_an_edit_whose_workers_keep_dying_fails_after_max_attempts() -> None:
    world = World()
    edit_id = world.ask()
    for _ in range(3):
        with world.uow() as uow:
            assert (
                uow.edits.claim_next(world.clock.now(), world.service.config.lease, max_attempts=3)
                is not None
            )
            uow.commit()  # ... and the worker dies
        world.clock.advance(world.service.config.lease)
    assert world.service.work() == []
    edit = world.service.get(world.owner.id, world.site.slug, edit_id).edit
    assert edit.status is EditStatus.FAILED
    assert edit.detail is not None
    assert "3 attempts" in edit.detail
    assert world.mails(EmailTemplate.ANOMALY_ALERT) == [ADMIN]


# --- A state machine: the live version is always the last applied, restored or published one.


class EditMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(per_month=1000)
        self.live = 1  # the model's live version number
        self.versions = 1
        self.ready: dict[uuid.UUID, int] = {}  # ready edit -> the version its draft was made from
        self.decided: set[uuid.UUID] = set()
        self.pending: list[uuid.UUID] = []

    @rule(text=st.text(alphabet="abc xyz", min_size=1, max_size=20).filter(str.strip))
    def ask(self, text: str) -> None:
        self.pending.append(self.world.ask(text))

    @precondition(lambda self: bool(self.pending))
    @rule()
    def draft(self) -> None:
        outcome = self.world.service.work_once()
        assert outcome is not None
        assert outcome.edit_id == self.pending.pop(0)  # oldest first
        self.ready[outcome.edit_id] = self.live

    @precondition(lambda self: bool(self.ready))
    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        edit_id = data.draw(st.sampled_from(list(self.ready)))
        base = self.ready[edit_id]
        if base == self.live:
            self.world.service.approve(self.world.owner.id, self.world.site.slug, edit_id)
            self.versions += 1
            self.live = self.versions
            del self.ready[edit_id]
            self.decided.add(edit_id)
        else:
            with pytest.raises(Conflict):
                self.world.service.approve(self.world.owner.id, self.world.site.slug, edit_id)

    @precondition(lambda self: bool(self.ready))
    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        edit_id = data.draw(st.sampled_from(list(self.ready)))
        self.world.service.reject(self.world.owner.id, self.world.site.slug, edit_id)
        del self.ready[edit_id]
        self.decided.add(edit_id)

    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        number = data.draw(st.integers(1, self.versions))
        version = self.world.service.restore(self.world.owner.id, self.world.site.slug, number)
        self.versions += 1
        assert version.number == self.versions
        self.live = self.versions

    @rule()
    def operator_publishes(self) -> None:
        self.world.sites.publish(self.world.site.slug, SiteContent(PAGE + f"<!-- {self.versions} -->"))
        self.versions += 1
        self.live = self.versions

    @invariant()
    def live_version_is_the_models(self) -> None:
        with self.world.uow() as uow:
            site = uow.sites.get(self.world.site.id)
            assert site is not None
            assert site.current_version == self.live
            assert [v.number for v in uow.sites.list_versions(site.id)] == list(range(self.versions, 0, -1))

    @invariant()
    def statuses_match(self) -> None:
        for edit_id in self.ready:
            assert self.world.status(edit_id) is EditStatus.READY


TestEditMachine = EditMachine.TestCase
# Draws pick from ``self.ready`` in insertion order: sorting the random uuid4 keys made a replayed
# example choose differently, which hypothesis reported as FlakyStrategyDefinition.
TestEditMachine.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, derandomize=True, database=None
)


def test_the_portal_listing_names_the_files_each_ready_draft_changes() -> None:
    world = World(engine=FakeEditEngine(automatic=False))
    waiting = world.ask("Add our phone number")
    drafted = world.ask()
    files = world.service.current_files(drafted)
    world.service.operator_draft(
        drafted,
        {
            "index.html": files["index.html"].replace("Sunrise Bakery", "Sunrise Bakery & Café"),
            "styles.css": "h1 { color: brown; }",
        },
        "Renamed, and a style",
    )
    listing = world.service.listing(world.owner.id, world.site.slug)
    assert [v.edit.id for v in listing.views] == [drafted, waiting]
    assert [v.preview_url is not None for v in listing.views] == [True, False]
    assert listing.changed == {drafted: ["index.html", "styles.css"]}
    assert listing.changed == world.service.changed_paths([v.edit for v in listing.views])
    stranger = world.add_owner("eve@example.com")
    with pytest.raises(NotFound):
        world.service.listing(stranger.id, world.site.slug)


# --- what approval and rejection record, exactly (mutation testing) --------------------------


def test_approval_records_the_version_event_and_mail_in_full() -> None:
    world = World()
    edit_id = world.ask("Add the words Fresh bread daily")
    world.service.work()
    summary = world.service.get(world.owner.id, world.site.slug, edit_id).edit.summary
    assert summary
    world.clock.advance(dt.timedelta(minutes=5))
    approved_at = world.clock.now()
    view = world.service.approve(world.owner.id, world.site.slug, edit_id)
    assert view.edit.updated_at == approved_at
    version = world.sites.version(world.site.id, 2)
    assert (version.created_at, version.note, version.site_id, version.number) == (
        approved_at,
        summary,
        world.site.id,
        2,
    )
    event = world.sites.details(world.site.slug).events[-1]
    expected = ("edit applied: version 2", Actor.CUSTOMER, approved_at)
    assert (event.cause, event.actor, event.occurred_at) == expected
    with world.uow() as uow:
        queued = uow.outbox.list(limit=100)
    [item] = [m for m in queued if m.message.template is EmailTemplate.EDIT_APPLIED]
    mail = item.render(JinjaEmailRenderer())  # as the relay sends it
    assert "https://sites.webmagic.test/sunrise-bakery" in mail.text
    assert "https://app.webmagic.test/portal/sites/sunrise-bakery" in mail.text
    assert summary in mail.text
    assert "2" in mail.subject + mail.text


def test_refusals_on_approval_are_exact() -> None:
    world = World()
    edit_id = world.ask()
    world.service.work()
    unknown = uuid.uuid4()
    with pytest.raises(NotFound) as missing:
        world.service.approve(world.owner.id, world.site.slug, unknown)
    assert str(missing.value) == f"this site has no edit {unknown}"
    world.set_status(Trigger.HOSTING_EXPIRED)
    with pytest.raises(Conflict) as suspended:
        world.service.approve(world.owner.id, world.site.slug, edit_id)
    assert str(suspended.value) == (
        "you cannot approve changes to a suspended site"
        ": start the monthly subscription to bring it back first"
    )
    world.set_status(Trigger.ARCHIVED)
    with pytest.raises((Conflict, NotFound)) as archived:
        world.service.reject(world.owner.id, world.site.slug, edit_id)
    assert "subscription" not in str(archived.value)


def test_rejection_is_dated() -> None:
    world = World()
    edit_id = world.ask()
    world.service.work()
    world.clock.advance(dt.timedelta(minutes=7))
    view = world.service.reject(world.owner.id, world.site.slug, edit_id)
    assert (view.edit.status, view.edit.updated_at) == (EditStatus.REJECTED, world.clock.now())
