"""A site's timeline shows its subscriptions (checkout, start, each payment, the status
last read when it is not active, cancellation, end) and the reminders sent, in time order
among the rest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from webmagic_core.services.timeline import TimelineEntry, TimelineKind
from webmagic_core.testing.subscriptions import SubscriptionsWorld, subscriptions_world

DAY = dt.timedelta(days=1)
KINDS = (TimelineKind.SUBSCRIPTION, TimelineKind.NOTICE)


@pytest.fixture
def world() -> SubscriptionsWorld:
    w = subscriptions_world()
    w.owned_site()
    return w


def iso(at: dt.datetime) -> str:
    return at.isoformat(timespec="seconds")


def subscription_entries(world: SubscriptionsWorld) -> Sequence[TimelineEntry]:
    entries = world.payments.timeline.for_site("casa-rosa")
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    return [e for e in entries if e.kind in KINDS]


def test_a_subscription_from_reminder_to_suspension(world: SubscriptionsWorld) -> None:
    site = world.site()
    purchased_at = site.purchased_at
    assert purchased_at is not None
    world.clock.advance(24 * DAY)
    assert world.sweep.run().reminders_sent == 1
    reminded_at = world.clock.now()
    started_at = world.clock.advance(dt.timedelta(minutes=5))
    sub, su = world.subscribe()
    for event in world.provider.renew(su):
        world.deliver(event)
    renewed_at = world.clock.now()
    world.clock.advance(DAY)
    world.subscriptions.cancel(world.owner_id(), "casa-rosa")
    cancelled_at = world.clock.now()
    world.clock.advance(40 * DAY)
    assert world.sweep.run().subscriptions_ended == 1
    ended_at = world.clock.now()

    first, second = world.subscriptions.payments(sub.id)
    paid_through = second.period_end
    assert paid_through is not None
    assert first.period_end is not None
    ends = (purchased_at + 30 * DAY).date().isoformat()
    entries = subscription_entries(world)
    assert [(e.at, e.kind, e.summary, e.reference) for e in entries] == [
        (
            reminded_at,
            TimelineKind.NOTICE,
            "reminder hosting_ending_7d sent",
            f"hosting_ending_7d:{site.id}:{ends}",
        ),
        (
            started_at,
            TimelineKind.SUBSCRIPTION,
            f"subscription checkout opened for 95.00 USD per month (checkout {sub.checkout_id}), "
            f"holding until {iso(sub.expires_at)}",
            str(sub.id),
        ),
        (started_at, TimelineKind.SUBSCRIPTION, f"subscription {su} started", str(sub.id)),
        (
            started_at,
            TimelineKind.SUBSCRIPTION,
            f"subscription {su}: payment {first.payment_id} of 95.00 USD, "
            f"paying until {iso(first.period_end)}",
            first.payment_id,
        ),
        (
            renewed_at,
            TimelineKind.SUBSCRIPTION,
            f"subscription {su}: payment {second.payment_id} of 95.00 USD, paying until {iso(paid_through)}",
            second.payment_id,
        ),
        (
            cancelled_at,
            TimelineKind.SUBSCRIPTION,
            f"subscription {su} cancelled, the site stays online until {iso(paid_through)}",
            str(sub.id),
        ),
        (ended_at, TimelineKind.SUBSCRIPTION, f"subscription {su} ended: no paid time left", str(sub.id)),
    ]
    # Among the rest: the site went active, then suspended at the end.
    site_moves = [
        e.summary for e in world.payments.timeline.for_site("casa-rosa") if e.kind is TimelineKind.SITE
    ]
    assert site_moves[-2:] == [
        f"owned -> active: subscription {su} is active (webhook)",
        f"active -> suspended: subscription {su} ended: its paid time is over (system)",
    ]


def test_an_unpaid_checkout_that_expired_and_a_subscription_past_due(world: SubscriptionsWorld) -> None:
    owner = world.owner_id()
    abandoned = world.subscriptions.start(owner, "casa-rosa")
    world.clock.advance(DAY)
    world.sweep.run()  # the hold is over: expired
    expired_at = world.clock.now()
    sub, su = world.subscribe()
    for event in world.provider.fail_renewal(su):
        world.deliver(event)
    failed_at = world.clock.now()

    summaries = [(e.at, e.summary) for e in subscription_entries(world)]
    assert (expired_at, "subscription checkout expired unpaid") in summaries
    assert summaries[-1] == (failed_at, f"subscription {su} is past_due")
    assert [e.reference for e in subscription_entries(world)][:2] == [
        str(abandoned.subscription_id),
        str(abandoned.subscription_id),
    ]
    assert world.subscription(sub.id).last_synced_at == failed_at
