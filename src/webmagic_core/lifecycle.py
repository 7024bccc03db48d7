"""The site lifecycle: the one transition table everything else asks.

See docs/architecture.md, "Site lifecycle". No other module decides which state follows which.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from webmagic_core.errors import InvalidTransition


class SiteStatus(enum.StrEnum):
    PREVIEW = "preview"
    OWNED = "owned"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    SUSPENDED = "suspended"
    ARCHIVED = "archived"


class Trigger(enum.StrEnum):
    """What happened to a site; the table turns (status, trigger) into the next status."""

    PURCHASE_PAID = "purchase_paid"
    SUBSCRIPTION_STARTED = "subscription_started"
    RENEWAL_FAILED = "renewal_failed"
    PAYMENT_RECOVERED = "payment_recovered"
    SUBSCRIPTION_ENDED = "subscription_ended"
    HOSTING_EXPIRED = "hosting_expired"
    PAUSED = "paused"
    UNPAUSED = "unpaused"
    ARCHIVED = "archived"


class ServeMode(enum.StrEnum):
    """What hosting does for a site in a given state."""

    WITH_BANNER = "with_banner"  # preview: purchase banner, noindex
    CLEAN = "clean"
    UNAVAILABLE = "unavailable"  # 503 "temporarily unavailable", noindex
    NOT_FOUND = "not_found"  # 404, indistinguishable from an unknown slug


@attrs.frozen
class StatusPolicy:
    serve: ServeMode
    custom_domain_allowed: bool
    edits_allowed: bool


S, T = SiteStatus, Trigger

_LIVE = (S.PREVIEW, S.OWNED, S.ACTIVE, S.PAST_DUE, S.SUSPENDED)

TRANSITIONS: Mapping[tuple[SiteStatus, Trigger], SiteStatus] = MappingProxyType(
    {
        (S.PREVIEW, T.PURCHASE_PAID): S.OWNED,
        (S.OWNED, T.SUBSCRIPTION_STARTED): S.ACTIVE,
        (S.SUSPENDED, T.SUBSCRIPTION_STARTED): S.ACTIVE,
        (S.ACTIVE, T.RENEWAL_FAILED): S.PAST_DUE,
        (S.PAST_DUE, T.PAYMENT_RECOVERED): S.ACTIVE,
        (S.PAST_DUE, T.SUBSCRIPTION_ENDED): S.SUSPENDED,
        (S.ACTIVE, T.SUBSCRIPTION_ENDED): S.SUSPENDED,
        (S.OWNED, T.HOSTING_EXPIRED): S.SUSPENDED,
        (S.ACTIVE, T.PAUSED): S.SUSPENDED,
        (S.PAST_DUE, T.PAUSED): S.SUSPENDED,
        (S.SUSPENDED, T.UNPAUSED): S.ACTIVE,
        **{(status, T.ARCHIVED): S.ARCHIVED for status in _LIVE},
    }
)

POLICIES: Mapping[SiteStatus, StatusPolicy] = MappingProxyType(
    {
        S.PREVIEW: StatusPolicy(ServeMode.WITH_BANNER, custom_domain_allowed=False, edits_allowed=False),
        S.OWNED: StatusPolicy(ServeMode.CLEAN, custom_domain_allowed=True, edits_allowed=True),
        S.ACTIVE: StatusPolicy(ServeMode.CLEAN, custom_domain_allowed=True, edits_allowed=True),
        S.PAST_DUE: StatusPolicy(ServeMode.CLEAN, custom_domain_allowed=True, edits_allowed=True),
        S.SUSPENDED: StatusPolicy(ServeMode.UNAVAILABLE, custom_domain_allowed=False, edits_allowed=False),
        S.ARCHIVED: StatusPolicy(ServeMode.NOT_FOUND, custom_domain_allowed=False, edits_allowed=False),
    }
)


def next_status(current: SiteStatus, trigger: Trigger) -> SiteStatus:
    """The status that ``trigger`` leads to from ``current``; raises if the table forbids it."""
    try:
        return TRANSITIONS[(current, trigger)]
    except KeyError:
        raise InvalidTransition(f"a site that is {current.value} cannot take '{trigger.value}'") from None


def can_apply(current: SiteStatus, trigger: Trigger) -> bool:
    return (current, trigger) in TRANSITIONS


def policy(status: SiteStatus) -> StatusPolicy:
    return POLICIES[status]
