"""Random sequences of adds, publishes, transitions, conflicts and rollbacks against each
backend, checked after every step against a plain dict model of what must be stored."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Protocol

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from webmagic_core import lifecycle
from webmagic_core.errors import Conflict, InvalidTransition
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.pages import PageVariant, page_variant
from webmagic_core.ports import SiteHead, UnitOfWorkFactory
from webmagic_core.site_files import digest_of
from webmagic_core.sites import Actor, Site, SiteContent, SiteVersion
from webmagic_core.testing.sites import new_version, page_of

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
# Hyphenated look-alikes: any collation that ignores punctuation would order them wrongly.
SLUGS = ["alpha", "al-pha", "alp-ha", "alpha2"]

text = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
slugs = st.sampled_from(SLUGS)
commits = st.booleans()


class Backend(Protocol):  # conftest.Backend
    def reset(self) -> UnitOfWorkFactory: ...


@attrs.define
class Expected:
    """What the store must hold for one site."""

    id: uuid.UUID
    slug: str
    business_name: str
    status: SiteStatus
    current_version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    versions: dict[int, str]
    events: list[tuple[SiteStatus | None, SiteStatus, str, dt.datetime]]

    def site(self) -> Site:
        return Site(
            id=self.id,
            slug=self.slug,
            business_name=self.business_name,
            status=self.status,
            current_version=self.current_version,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class SiteRepositoryMachine(RuleBasedStateMachine):
    backend: Backend  # set by the test on a subclass

    def __init__(self) -> None:
        super().__init__()
        self.uow: UnitOfWorkFactory = self.backend.reset()
        self.model: dict[str, Expected] = {}
        self.now = T0

    def version(self, site_id: uuid.UUID, number: int, html: str) -> tuple[SiteVersion, dict[str, bytes]]:
        return new_version(
            site_id,
            number,
            SiteContent(html=f"<p>{html}</p>"),
            note=f"version {number}",
            created_at=self.now,
        )

    @rule(seconds=st.sampled_from([0, 1, 3600]))
    def tick(self, seconds: int) -> None:
        self.now += dt.timedelta(seconds=seconds, microseconds=seconds * 7)

    @rule(slug=slugs, name=text, html=text, commit=commits)
    def add(self, slug: str, name: str, html: str, commit: bool) -> None:
        site = Site.new_preview(
            slug=slug, business_name=name, now=self.now, actor=Actor.ADMIN, cause="created"
        )
        with self.uow() as work:
            if slug in self.model:
                with pytest.raises(Conflict):
                    work.sites.add(site)
                return
            work.sites.add(site)
            work.sites.add_version(*self.version(site.id, 1, html))
            if not commit:
                return
            work.commit()
        self.model[slug] = Expected(
            id=site.id,
            slug=slug,
            business_name=name,
            status=SiteStatus.PREVIEW,
            current_version=1,
            created_at=self.now,
            updated_at=self.now,
            versions={1: f"<p>{html}</p>"},
            events=[(None, SiteStatus.PREVIEW, "created", self.now)],
        )

    @rule(slug=slugs, html=text, commit=commits)
    def publish(self, slug: str, html: str, commit: bool) -> None:
        with self.uow() as work:
            site = work.sites.get_by_slug(slug, for_update=True)
            if slug not in self.model:
                assert site is None
                return
            assert site is not None
            number = site.current_version + 1
            work.sites.add_version(*self.version(site.id, number, html))
            site.current_version = number
            site.updated_at = self.now
            work.sites.save(site)
            if not commit:
                return
            work.commit()
        expected = self.model[slug]
        expected.current_version, expected.updated_at = number, self.now
        expected.versions[number] = f"<p>{html}</p>"

    @rule(slug=slugs, data=st.data(), commit=commits)
    def transition(self, slug: str, data: st.DataObject, commit: bool) -> None:
        if slug not in self.model:
            return
        # Mostly moves the table allows (so sites travel far), sometimes any trigger at all.
        allowed = [t for t in Trigger if lifecycle.can_apply(self.model[slug].status, t)]
        legal_only = bool(allowed) and data.draw(st.booleans())
        trigger = data.draw(st.sampled_from(allowed if legal_only else list(Trigger)))
        with self.uow() as work:
            site = work.sites.get(self.model[slug].id)
            assert site is not None
            if not site.can(trigger):
                with pytest.raises(InvalidTransition):
                    site.apply(trigger, cause=trigger.value, actor=Actor.SYSTEM, at=self.now)
                return
            before = site.status
            site.apply(trigger, cause=trigger.value, actor=Actor.SYSTEM, at=self.now)
            work.sites.save(site)
            if not commit:
                return
            work.commit()
        expected = self.model[slug]
        expected.status, expected.updated_at = site.status, self.now
        expected.events.append((before, site.status, trigger.value, self.now))

    @rule(slug=slugs, name=text)
    def rename_after_a_version_conflict(self, slug: str, name: str) -> None:
        """A Conflict mid-way leaves the unit of work usable for the rest of its work."""
        if slug not in self.model:
            return
        expected = self.model[slug]
        with self.uow() as work:
            with pytest.raises(Conflict):
                work.sites.add_version(*self.version(expected.id, expected.current_version, "clash"))
            site = work.sites.get_by_slug(slug)
            assert site is not None
            site.business_name = name
            work.sites.save(site)
            work.commit()
        expected.business_name = name

    @rule(slug=slugs)
    def fail_inside_the_block(self, slug: str) -> None:
        class Boom(Exception):
            pass

        def change_then_fail() -> None:
            with self.uow() as work:
                site = work.sites.get_by_slug(slug, for_update=True)
                assert site is not None
                if site.can(Trigger.ARCHIVED):
                    site.apply(Trigger.ARCHIVED, cause="doomed", actor=Actor.ADMIN, at=self.now)
                site.current_version += 1
                site.business_name = "doomed"
                work.sites.add_version(*self.version(site.id, site.current_version, "doomed"))
                work.sites.save(site)
                raise Boom

        if slug in self.model:
            with pytest.raises(Boom):
                change_then_fail()

    @invariant()
    def store_matches_model(self) -> None:
        with self.uow() as work:
            listed = work.sites.list()
            assert [s.slug for s in listed] == sorted(self.model)
            assert listed == [self.model[slug].site() for slug in sorted(self.model)]
            assert work.sites.count_by_status() == dict(Counter(e.status for e in self.model.values()))
            for status in SiteStatus:
                assert [s.slug for s in work.sites.list(status=status)] == sorted(
                    slug for slug, e in self.model.items() if e.status is status
                )
            for slug in SLUGS:
                expected = self.model.get(slug)
                if expected is None:
                    assert work.sites.get_by_slug(slug) is None
                    assert work.sites.head_by_slug(slug) is None
                    continue
                assert work.sites.get_by_slug(slug) == expected.site()
                assert work.sites.head_by_slug(slug) == SiteHead(
                    id=expected.id,
                    slug=slug,
                    business_name=expected.business_name,
                    status=expected.status,
                    current_version=expected.current_version,
                    # Versions are added without a banner rendering: only the clean page
                    # (the index as uploaded here) is stored, served by sold statuses.
                    page_digest=digest_of(expected.versions[expected.current_version].encode())
                    if page_variant(expected.status) is PageVariant.CLEAN
                    else None,
                )
                versions = work.sites.list_versions(expected.id)
                assert [(v.number, page_of(work, v)) for v in versions] == sorted(
                    expected.versions.items(), reverse=True
                )
                events = work.sites.events(expected.id)
                assert [
                    (e.from_status, e.to_status, e.cause, e.occurred_at) for e in events
                ] == expected.events


def test_repository_behaves_like_the_model(backend: Backend) -> None:
    machine = type("Machine", (SiteRepositoryMachine,), {"backend": backend})
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=25, stateful_step_count=15, deadline=None),
    )
