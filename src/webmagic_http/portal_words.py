"""What the portal says about a site, in words an owner reads: its status, its next payment
or end date, and its history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import attrs

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import Subscription, SubscriptionState
from webmagic_core.services.subscriptions import SubscriptionView
from webmagic_core.sites import VersionCause
from webmagic_http.common import money_text


def day(value: dt.datetime | None) -> str | None:
    """``March 5, 2026`` (UTC)."""
    if value is None:
        return None
    return _day(value)


@lru_cache(maxsize=4096)
def _day(value: dt.datetime) -> str:
    # Cached: a site page names the same few hundred instants on every visit.
    d = value.astimezone(dt.UTC)
    return f"{d:%B} {d.day}, {d.year}"


@attrs.frozen
class Standing:
    """A site's status in words: a short label, its tone (``ok``, ``warn``, ``off``) and one
    sentence about the money side (next payment, or when the site stops)."""

    label: str
    tone: str
    detail: str


def standing(
    status: SiteStatus,
    view: SubscriptionView | None,
    included_until: dt.datetime | None,
    monthly: Money,
) -> Standing:
    price = money_text(monthly)
    sub = view.subscription if view is not None else None
    cancelled = sub is not None and sub.status is SubscriptionState.CANCELLED
    match status:
        case SiteStatus.OWNED:
            until = day(included_until)
            return Standing(
                "Online",
                "ok",
                f"Hosting is included until {until}. Start the subscription ({price} per month) to keep "
                "the site online after that."
                if until
                else f"Start the subscription ({price} per month) to keep the site online.",
            )
        case SiteStatus.ACTIVE if cancelled and view is not None and view.ends_at is not None:
            return Standing(
                "Online until " + (day(view.ends_at) or ""),
                "warn",
                f"The subscription is cancelled: nothing more is charged, and the site goes offline on "
                f"{day(view.ends_at)}.",
            )
        case SiteStatus.ACTIVE:
            nxt = day(view.next_payment_attempt_at or view.current_period_end) if view is not None else None
            return Standing(
                "Online",
                "ok",
                f"Subscription active. Next payment of {price} on {nxt}." if nxt else "Subscription active.",
            )
        case SiteStatus.PAST_DUE:
            retry = day(view.next_payment_attempt_at) if view is not None else None
            return Standing(
                "Online, payment failed",
                "warn",
                "The latest monthly payment failed. The payment service tries again"
                + (f" on {retry}" if retry else "")
                + "; update your card there to keep the site online.",
            )
        case SiteStatus.SUSPENDED:
            return Standing(
                "Offline",
                "off",
                f"No paid hosting is left. Every page is kept: start the subscription ({price} per month) "
                "and the site comes back exactly as it was.",
            )
        case _:
            return Standing(status.value.replace("_", " ").capitalize(), "off", "")


@attrs.frozen
class Moment:
    at: dt.datetime
    when: str
    text: str


_CAUSES = {
    "import": "The website was set up",
    "publish": "A new version of the website went live",
    "edit": "Your requested change went live",
    "restore": "An earlier version of the website was put back",
}


class _Event(Protocol):
    @property
    def occurred_at(self) -> dt.datetime: ...
    @property
    def from_status(self) -> SiteStatus | None: ...
    @property
    def to_status(self) -> SiteStatus: ...


class _Version(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def cause(self) -> VersionCause: ...


class _Payment(Protocol):
    @property
    def paid_at(self) -> dt.datetime: ...
    @property
    def amount(self) -> Money: ...
    @property
    def period_end(self) -> dt.datetime | None: ...


def history(
    events: Sequence[_Event],
    versions: Sequence[_Version],
    subscriptions: Sequence[Subscription],
    payments: Sequence[_Payment],
) -> Sequence[Moment]:
    """The site's life in words, newest first (from the page's rows or the domain objects
    alike)."""
    moments: list[tuple[dt.datetime, str]] = []
    for event in events:
        if event.from_status is event.to_status:
            continue  # a new version went live: told by the versions below
        text = _transition(event.from_status, event.to_status)
        if text:
            moments.append((event.occurred_at, text))
    for version in versions:
        if version.number > 1:
            words = _CAUSES[version.cause.value]
            moments.append((version.created_at, f"{words} (version {version.number})."))
    for sub in subscriptions:
        if sub.cancelled_at is not None:
            until = day(sub.paid_through) if sub.cancel_at_period_end else None
            moments.append(
                (
                    sub.cancelled_at,
                    "The subscription was cancelled"
                    + (f"; the site stays online until {until}." if until else "."),
                )
            )
    for payment in payments:
        until = f", paying for hosting until {day(payment.period_end)}" if payment.period_end else ""
        moments.append((payment.paid_at, f"Monthly payment of {money_text(payment.amount)} received{until}."))
    moments.sort(key=lambda m: m[0], reverse=True)
    return [Moment(at, day(at) or "", text) for at, text in moments]


def _transition(before: SiteStatus | None, after: SiteStatus) -> str | None:
    match (before, after):
        case (None, _):
            return "Your website was created as a preview."
        case (_, SiteStatus.OWNED):
            return "You bought the website: it is yours."
        case (SiteStatus.PAST_DUE, SiteStatus.ACTIVE):
            return "The missed payment arrived: the subscription is in good standing again."
        case (SiteStatus.SUSPENDED, SiteStatus.ACTIVE):
            return "The subscription started and the site is back online."
        case (_, SiteStatus.ACTIVE):
            return "The monthly hosting subscription started."
        case (_, SiteStatus.PAST_DUE):
            return "A monthly payment failed; the payment service tries again."
        case (_, SiteStatus.SUSPENDED):
            return "The site went offline: no paid hosting was left. Every page is kept."
        case _:
            return None
