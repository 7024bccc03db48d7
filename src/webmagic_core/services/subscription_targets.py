"""What a site should be given its subscriptions, and the way there along the lifecycle table."""

from __future__ import annotations

import datetime as dt
import enum
from collections import deque
from collections.abc import Mapping, Sequence

import attrs

from webmagic_core.lifecycle import TRANSITIONS, SiteStatus, Trigger
from webmagic_core.payments.subscriptions import (
    Subscription,
    SubscriptionState,
)


class SiteTarget(enum.IntEnum):
    """What one subscription asks of its site; with several, the highest wins."""

    ENDED = 1  # no paid time left: suspended
    PAUSED = 2  # suspended while paused
    PAST_DUE = 3  # served, while the provider retries
    ACTIVE = 4


_ROUTES: Mapping[SiteTarget, tuple[SiteStatus, tuple[Trigger, ...]]] = {
    SiteTarget.ACTIVE: (
        SiteStatus.ACTIVE,
        (Trigger.SUBSCRIPTION_STARTED, Trigger.UNPAUSED, Trigger.PAYMENT_RECOVERED),
    ),
    SiteTarget.PAST_DUE: (
        SiteStatus.PAST_DUE,
        (Trigger.SUBSCRIPTION_STARTED, Trigger.UNPAUSED, Trigger.RENEWAL_FAILED),
    ),
    # An owned site has no path here: a paused or ended subscription leaves it owned, and
    # its included hosting runs out through the sweep.
    SiteTarget.PAUSED: (SiteStatus.SUSPENDED, (Trigger.PAUSED,)),
    SiteTarget.ENDED: (SiteStatus.SUSPENDED, (Trigger.SUBSCRIPTION_ENDED,)),
}


def site_target(subscription: Subscription, now: dt.datetime) -> SiteTarget | None:
    """What ``subscription`` asks of its site at ``now``; None: nothing (never started)."""
    match subscription.status:
        case SubscriptionState.ACTIVE:
            return SiteTarget.ACTIVE
        case SubscriptionState.PAST_DUE:
            return SiteTarget.PAST_DUE
        case SubscriptionState.PAUSED:
            return SiteTarget.PAUSED
        case SubscriptionState.CANCELLED:
            return SiteTarget.ACTIVE if subscription.covers(now) else SiteTarget.ENDED
        case SubscriptionState.UNABLE_TO_START:
            # The provider could not (re)start it: nothing is paid beyond what was.
            return SiteTarget.ACTIVE if subscription.covers(now) else SiteTarget.ENDED
        case _:
            return None


def plan(current: SiteStatus, target: SiteTarget, *, prefer_unpause: bool = False) -> list[Trigger]:
    """The shortest sequence of triggers the lifecycle table allows from ``current`` to
    the status ``target`` stands for, using only the triggers that target may use (in
    their order of preference); empty when already there or when no such path exists."""
    goal, triggers = _ROUTES[target]
    if prefer_unpause:
        triggers = tuple(sorted(triggers, key=lambda t: t is not Trigger.UNPAUSED))
    paths: dict[SiteStatus, list[Trigger]] = {current: []}
    queue = deque([current])
    while queue:
        status = queue.popleft()
        if status is goal:
            return paths[status]
        for trigger in triggers:
            following = TRANSITIONS.get((status, trigger))
            if following is not None and following not in paths:
                paths[following] = [*paths[status], trigger]
                queue.append(following)
    return []


@attrs.frozen
class Settled:
    """What ``settle`` did to a site."""

    before: SiteStatus | None
    after: SiteStatus | None
    triggers: tuple[Trigger, ...] = ()


def current_subscription(subscriptions: Sequence[Subscription], now: dt.datetime) -> Subscription | None:
    """The one to show for a site: a live one, else an open checkout, else the latest
    started, else the latest created (``subscriptions`` oldest first)."""
    for wanted in (
        lambda s: s.is_live,
        lambda s: s.holds_checkout(now),
        lambda s: s.is_started,
        lambda s: True,
    ):
        found = [s for s in subscriptions if wanted(s)]
        if found:
            return max(found, key=lambda s: (s.started_at or s.created_at, s.created_at))
    return None
