"""What the portal says about a site: its status in words and its history, newest first."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.subscriptions import Subscription, SubscriptionPayment, SubscriptionState
from webmagic_core.services.subscriptions import SubscriptionView
from webmagic_core.sites import Actor, SiteEvent, SiteVersionSummary, VersionCause
from webmagic_http.portal_words import day, history, standing

MONTHLY = Money(9500, "USD")
T0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def subscription(status: SubscriptionState, **fields: object) -> SubscriptionView:
    sub = Subscription.new(site_id=uuid.uuid4(), customer_id=uuid.uuid4(), amount=MONTHLY, now=T0)
    sub.status = status
    for name, value in fields.items():
        setattr(sub, name, value)
    return SubscriptionView("sunrise-bakery", sub, ())


def test_day_is_written_out_in_utc() -> None:
    assert day(dt.datetime(2026, 3, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-6)))) == "March 6, 2026"
    assert day(None) is None


def test_an_owned_site_says_until_when_hosting_is_included() -> None:
    said = standing(SiteStatus.OWNED, None, T0 + dt.timedelta(days=30), MONTHLY)
    assert (said.label, said.tone) == ("Online", "ok")
    assert "Hosting is included until January 31, 2026" in said.detail
    assert "$95.00 per month" in said.detail


def test_an_active_site_says_the_next_payment() -> None:
    view = subscription(SubscriptionState.ACTIVE, next_payment_attempt_at=T0 + dt.timedelta(days=31))
    said = standing(SiteStatus.ACTIVE, view, None, MONTHLY)
    assert (said.label, said.tone) == ("Online", "ok")
    assert said.detail == "Subscription active. Next payment of $95.00 on February 1, 2026."


def test_a_cancelled_subscription_says_the_day_the_site_stops() -> None:
    end = T0 + dt.timedelta(days=30)
    view = subscription(
        SubscriptionState.CANCELLED, cancel_at_period_end=True, paid_through=end, cancelled_at=T0
    )
    said = standing(SiteStatus.ACTIVE, view, None, MONTHLY)
    assert (said.label, said.tone) == ("Online until January 31, 2026", "warn")
    assert "goes offline on January 31, 2026" in said.detail


@pytest.mark.parametrize(
    ("status", "label", "tone"),
    [(SiteStatus.PAST_DUE, "Online, payment failed", "warn"), (SiteStatus.SUSPENDED, "Offline", "off")],
)
def test_troubled_sites_say_so(status: SiteStatus, label: str, tone: str) -> None:
    view = subscription(SubscriptionState.PAST_DUE, next_payment_attempt_at=T0 + dt.timedelta(days=3))
    said = standing(status, view, None, MONTHLY)
    assert (said.label, said.tone) == (label, tone)
    if status is SiteStatus.PAST_DUE:
        assert "tries again on January 4, 2026" in said.detail


def test_the_history_is_in_words_newest_first() -> None:
    site_id = uuid.uuid4()

    def event(before: SiteStatus | None, after: SiteStatus, days: int) -> SiteEvent:
        return SiteEvent(
            uuid.uuid4(), site_id, before, after, "x", Actor.SYSTEM, None, T0 + dt.timedelta(days=days)
        )

    sub = subscription(
        SubscriptionState.CANCELLED,
        cancelled_at=T0 + dt.timedelta(days=5),
        cancel_at_period_end=True,
        paid_through=T0 + dt.timedelta(days=33),
    ).subscription
    payment = SubscriptionPayment(
        "pa_1", sub.id, MONTHLY, T0 + dt.timedelta(days=3), T0 + dt.timedelta(days=33), T0
    )
    events = [
        event(None, SiteStatus.PREVIEW, 0),
        event(SiteStatus.PREVIEW, SiteStatus.OWNED, 1),
        event(SiteStatus.OWNED, SiteStatus.ACTIVE, 3),
    ]
    versions = [
        SiteVersionSummary(2, T0 + dt.timedelta(days=4), VersionCause.RESTORE, Actor.CUSTOMER),
        SiteVersionSummary(1, T0, VersionCause.IMPORT, Actor.ADMIN),
    ]

    texts = [moment.text for moment in history(events, versions, [sub], [payment])]

    assert texts == [
        "The subscription was cancelled; the site stays online until February 3, 2026.",
        "An earlier version of the website was put back (version 2).",
        # Same instant: the order they were collected in (transitions first).
        "The monthly hosting subscription started.",
        "Monthly payment of $95.00 received, paying for hosting until February 3, 2026.",
        "You bought the website: it is yours.",
        "Your website was created as a preview.",
    ]
    assert history(events, versions, [sub], [payment])[0].when == "January 6, 2026"
