"""The production rate limits, pinned: a change to any of them is a decision, made here."""

from __future__ import annotations

import datetime as dt

from webmagic_adapters.ratelimit import DEFAULT_SWEEP_EVERY, DEFAULT_TIMEOUT, KEY_PREFIX
from webmagic_core.services.accounts import Limit, ThrottleLimits
from webmagic_core.services.purchases import PurchaseLimits

HOUR = dt.timedelta(hours=1)


def test_login_and_mail_limits() -> None:
    assert ThrottleLimits() == ThrottleLimits(
        login_per_client_account=Limit(5, dt.timedelta(minutes=15)),
        login_per_client=Limit(20, dt.timedelta(minutes=1)),
        login_per_account=Limit(100, HOUR),
        mail_per_email=Limit(3, HOUR),
        mail_per_client=Limit(30, HOUR),
    )


def test_purchase_limits() -> None:
    limits = PurchaseLimits()
    assert (limits.per_email, limits.per_client) == (Limit(5, HOUR), Limit(20, HOUR))
    assert (limits.holds_per_email, limits.holds_per_client) == (2, 3)


def test_limiter_storage_defaults() -> None:
    assert DEFAULT_SWEEP_EVERY == 1024  # memory: one sweep of idle keys per 1024 calls
    assert DEFAULT_TIMEOUT == 1.0  # Redis: a dead server fails a request within ~2 s
    assert KEY_PREFIX == "webmagic:rl:"
