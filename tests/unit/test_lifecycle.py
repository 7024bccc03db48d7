"""The transition table and a hypothesis state machine driving random lifecycle changes."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from webmagic_core import lifecycle
from webmagic_core.errors import InvalidTransition
from webmagic_core.lifecycle import ServeMode, SiteStatus, Trigger
from webmagic_core.sites import Actor, Site

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# The lifecycle of docs/architecture.md, written out independently of the implementation.
DESIGN_EDGES = {
    ("preview", "purchase_paid", "owned"),
    ("owned", "subscription_started", "active"),
    ("active", "renewal_failed", "past_due"),
    ("past_due", "payment_recovered", "active"),
    ("past_due", "subscription_ended", "suspended"),
    ("active", "subscription_ended", "suspended"),
    ("owned", "hosting_expired", "suspended"),
    ("suspended", "subscription_started", "active"),
    ("active", "paused", "suspended"),
    ("past_due", "paused", "suspended"),
    ("suspended", "unpaused", "active"),
    *{(s, "archived", "archived") for s in ("preview", "owned", "active", "past_due", "suspended")},
}


def test_table_is_exactly_the_design() -> None:
    table = {(s.value, t.value, to.value) for (s, t), to in lifecycle.TRANSITIONS.items()}
    assert table == DESIGN_EDGES


def test_archived_is_terminal() -> None:
    assert not any(lifecycle.can_apply(SiteStatus.ARCHIVED, t) for t in Trigger)


@pytest.mark.parametrize(
    ("status", "mode"),
    [
        (SiteStatus.PREVIEW, ServeMode.WITH_BANNER),
        (SiteStatus.OWNED, ServeMode.CLEAN),
        (SiteStatus.ACTIVE, ServeMode.CLEAN),
        (SiteStatus.PAST_DUE, ServeMode.CLEAN),
        (SiteStatus.SUSPENDED, ServeMode.UNAVAILABLE),
        (SiteStatus.ARCHIVED, ServeMode.NOT_FOUND),
    ],
)
def test_what_hosting_does_per_state(status: SiteStatus, mode: ServeMode) -> None:
    assert lifecycle.policy(status).serve is mode


def test_custom_domains_and_edits_only_for_sites_that_are_paid_for() -> None:
    allowed = {s for s in SiteStatus if lifecycle.policy(s).custom_domain_allowed}
    # Owned: bought, within its included hosting; never a preview, suspended or archived site.
    assert allowed == {SiteStatus.OWNED, SiteStatus.ACTIVE, SiteStatus.PAST_DUE}
    assert {s for s in SiteStatus if lifecycle.policy(s).edits_allowed} == allowed


def test_forbidden_transition_names_state_and_trigger() -> None:
    with pytest.raises(InvalidTransition, match="preview cannot take 'subscription_started'"):
        lifecycle.next_status(SiteStatus.PREVIEW, Trigger.SUBSCRIPTION_STARTED)


class LifecycleMachine(RuleBasedStateMachine):
    """Random triggers against one site: legal ones move it, illegal ones change nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.site = Site.new_preview(
            slug="corner-cafe", business_name="Corner Cafe", now=T0, actor=Actor.ADMIN, cause="created"
        )
        self.model_status = "preview"
        self.transitions = 1  # the creation event
        self.recorded: list[tuple[str | None, str]] = [(None, "preview")]

    @rule(trigger=st.sampled_from(list(Trigger)), minutes=st.integers(min_value=0, max_value=10_000))
    def fire(self, trigger: Trigger, minutes: int) -> None:
        self.now += dt.timedelta(minutes=minutes)
        target = next(
            (to for (fr, tr, to) in DESIGN_EDGES if fr == self.model_status and tr == trigger.value), None
        )
        before = self.site.status
        if target is None:
            with pytest.raises(InvalidTransition):
                self.site.apply(trigger, cause="test", actor=Actor.SYSTEM, at=self.now)
            assert self.site.status is before
            return
        event = self.site.apply(
            trigger, cause=f"test {trigger}", actor=Actor.SYSTEM, at=self.now, reference="evt"
        )
        assert (event.from_status, event.to_status) == (before, self.site.status)
        assert event.occurred_at == self.now
        self.model_status = target
        self.recorded.append((before.value, target))

    @invariant()
    def status_matches_model(self) -> None:
        assert self.site.status.value == self.model_status

    @invariant()
    def every_transition_is_recorded_in_order(self) -> None:
        events = self.site.pending_events
        assert [(e.from_status and e.from_status.value, e.to_status.value) for e in events] == self.recorded
        for earlier, later in itertools.pairwise(events):
            assert earlier.to_status == later.from_status
            assert earlier.occurred_at <= later.occurred_at

    @invariant()
    def updated_at_follows_last_event(self) -> None:
        assert self.site.updated_at == self.site.pending_events[-1].occurred_at


TestLifecycleMachine = LifecycleMachine.TestCase
TestLifecycleMachine.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
