"""The ``Site`` aggregate: every move it makes along the lifecycle table is recorded whole."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from webmagic_core import lifecycle
from webmagic_core.errors import InvalidTransition
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.sites import Actor, Site, SiteEvent

T0 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)


def preview() -> Site:
    return Site.new_preview(slug="rosas", business_name="Rosa's", now=T0, actor=Actor.ADMIN, cause="imported")


def fields(event: SiteEvent) -> tuple[object, ...]:
    return (event.from_status, event.to_status, event.cause, event.actor, event.reference, event.occurred_at)


def test_a_new_preview_records_its_birth() -> None:
    site = preview()
    assert (site.status, site.current_version, site.created_at, site.updated_at) == (
        SiteStatus.PREVIEW,
        1,
        T0,
        T0,
    )
    assert (site.owner_id, site.purchased_at) == (None, None)
    [event] = site.pending_events
    assert fields(event) == (None, SiteStatus.PREVIEW, "imported", Actor.ADMIN, None, T0)
    assert isinstance(event.id, uuid.UUID)
    assert event.site_id == site.id
    assert isinstance(site.id, uuid.UUID)
    assert preview().id != site.id


def test_sell_moves_to_owned_and_records_buyer_and_event() -> None:
    site, buyer = preview(), uuid.uuid4()
    event = site.sell(buyer, cause="paid", actor=Actor.WEBHOOK, at=T1, reference="pay_1")
    assert (site.status, site.owner_id, site.purchased_at) == (SiteStatus.OWNED, buyer, T1)
    assert site.updated_at == T1
    assert fields(event) == (SiteStatus.PREVIEW, SiteStatus.OWNED, "paid", Actor.WEBHOOK, "pay_1", T1)
    assert site.pending_events[-1] is event
    assert len({e.id for e in site.pending_events}) == 2


def test_sell_refuses_a_site_that_is_not_a_preview() -> None:
    site = preview()
    site.sell(uuid.uuid4(), cause="paid", actor=Actor.WEBHOOK, at=T1)
    owner = site.owner_id
    with pytest.raises(InvalidTransition, match="a site that is owned cannot take 'purchase_paid'"):
        site.sell(uuid.uuid4(), cause="paid again", actor=Actor.WEBHOOK, at=T1)
    assert (site.owner_id, len(site.pending_events)) == (owner, 2)


def test_apply_follows_the_table_and_records_the_move() -> None:
    site = preview()
    site.sell(uuid.uuid4(), cause="paid", actor=Actor.WEBHOOK, at=T0)
    event = site.apply(
        Trigger.SUBSCRIPTION_STARTED, cause="subscribed", actor=Actor.SYSTEM, at=T1, reference="s1"
    )
    assert fields(event) == (SiteStatus.OWNED, SiteStatus.ACTIVE, "subscribed", Actor.SYSTEM, "s1", T1)
    assert (site.status, site.updated_at) == (SiteStatus.ACTIVE, T1)
    with pytest.raises(InvalidTransition):
        site.apply(Trigger.PURCHASE_PAID, cause="x", actor=Actor.SYSTEM, at=T1)
    assert site.status is SiteStatus.ACTIVE


def test_go_live_changes_the_version_not_the_status() -> None:
    site = preview()
    event = site.go_live(3, cause="published", actor=Actor.CUSTOMER, at=T1, reference="edit-1")
    assert (site.current_version, site.updated_at, site.status) == (3, T1, SiteStatus.PREVIEW)
    expected = (SiteStatus.PREVIEW, SiteStatus.PREVIEW, "published", Actor.CUSTOMER, "edit-1", T1)
    assert fields(event) == expected
    assert site.pending_events[-1] is event


@pytest.mark.parametrize("status", list(SiteStatus))
def test_can_and_policy_ask_the_table(status: SiteStatus) -> None:
    site = preview()
    site.status = status
    for trigger in Trigger:
        assert site.can(trigger) is lifecycle.can_apply(status, trigger)
        assert site.can(trigger) is ((status, trigger) in lifecycle.TRANSITIONS)
    assert site.policy == lifecycle.POLICIES[status]
