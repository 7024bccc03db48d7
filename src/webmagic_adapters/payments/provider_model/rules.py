"""The provider's constants and rules: its ids, its periods, what it accepts in a checkout,
when it refuses a refund."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from webmagic_core.payments.gateway import (
    CheckoutKind,
    CheckoutRequest,
    FreeTrial,
    GatewayError,
    GatewayNotFound,
    TrialInterval,
    add_months,
    trial_end,
)

API_VERSION = "2024-04-24"
CURRENCIES = frozenset({"USD", "GTQ"})
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
HOSTING_PRODUCT = "prod_hosting"
# After a failed charge the provider tries again this much later.
RETRY_AFTER = dt.timedelta(days=3)
SUBSCRIPTION_CREATED = "subscription.create"
SUBSCRIPTION_PAST_DUE = "subscription.past_due"
SUBSCRIPTION_CANCELLED = "subscription.cancel"
SUBSCRIPTION_UNABLE_TO_START = "subscription.unable_to_start"
# Recurrente documents two names for each of these.
PAUSE_EVENTS = ("subscription.pause", "subscription.paused")
UNPAUSE_EVENTS = ("subscription.unpause", "subscription.reactivate")
REACTIVATE = "subscription.reactivate"

# How long a subscription's period lasts, from its start.
Period = Callable[[dt.datetime], dt.datetime]


def new_id(prefix: str, *, tag: str | None = None, hex_digits: int = 24) -> str:
    """A provider id: ``ch_9f2c...``, or ``ch_sandbox_9f2c...`` with a ``tag``."""
    random = secrets.token_hex(hex_digits // 2)
    return f"{prefix}_{tag}_{random}" if tag else f"{prefix}_{random}"


def add_month(value: dt.datetime) -> dt.datetime:
    """The same day of the next month (its last day when it has fewer days)."""
    return add_months(value, 1)


def first_period_end(start: dt.datetime, trial: FreeTrial | None, period: Period = add_month) -> dt.datetime:
    """A free trial is the first period: the first charge falls when it ends."""
    return trial_end(start, trial) if trial is not None else period(start)


# --- what POST /checkouts accepts -------------------------------------------------------------
#
# Each rule names what it refuses (empty when acceptable). ``request_problems`` applies them
# to the port's ``CheckoutRequest``; the HTTP imitation applies the same ones to the JSON
# body it is sent, after checking its types.


def url_problems(name: str, url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        return [f"{name} must be an absolute http(s) URL"]
    return []


def item_problems(name: str, amount_in_cents: int, currency: str) -> list[str]:
    problems = []
    if not name.strip():
        problems.append("the item needs a name")
    if amount_in_cents <= 0:
        problems.append("amount_in_cents must be positive")
    if currency not in CURRENCIES:
        problems.append(f"currency must be one of {', '.join(sorted(CURRENCIES))}")
    return problems


def metadata_problems(metadata: Mapping[str, str]) -> list[str]:
    problems = []
    if len(metadata) > MAX_METADATA_KEYS:
        problems.append(f"metadata holds at most {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            problems.append(f"metadata key {key[:50]!r} must be 1-{MAX_METADATA_KEY_LENGTH} characters")
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            problems.append(f"metadata value of {key[:50]!r} exceeds {MAX_METADATA_VALUE_LENGTH} characters")
    return problems


def trial_problems(recurring: bool) -> list[str]:
    """For an item that has a free trial."""
    return [] if recurring else ["only a recurring item can have a free trial"]


def request_problems(request: CheckoutRequest, now: dt.datetime) -> list[str]:
    """What the provider would refuse in ``request`` (empty when it is acceptable)."""
    problems = [
        *url_problems("success_url", request.success_url),
        *url_problems("cancel_url", request.cancel_url),
        *item_problems(request.item_name, request.amount.amount_in_cents, request.amount.currency),
        *metadata_problems(request.metadata),
    ]
    if request.expires_at is not None and (
        request.expires_at.utcoffset() is None or request.expires_at <= now
    ):
        problems.append("expires_at must be a timezone-aware time in the future")
    if request.free_trial is not None:
        problems += trial_problems(request.kind is CheckoutKind.MONTHLY)
    return problems


def trial_from_wire(interval: object, count: object) -> FreeTrial | None:
    """A free trial as the provider's API names it (``week``, ``month`` or ``year``, and a
    count); a year is twelve months. None when there is none or it is not one of these."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        return None
    if interval == "year":
        return FreeTrial(TrialInterval.MONTH, 12 * count)
    if interval in tuple(TrialInterval):
        return FreeTrial(TrialInterval(str(interval)), count)
    return None


# --- refunds -----------------------------------------------------------------------------------


def check_refund(payment_id: str, *, paid: bool, refunded: bool, by: str) -> None:
    """``POST /refunds``: a 404 for a payment ``by`` (the provider, the sandbox) never took,
    a 422 for a second refund of one."""
    if not paid:
        raise GatewayNotFound(f"{by} has no payment {payment_id[:80]!r}", status=404)
    if refunded:
        raise already_refunded(payment_id)


def already_refunded(payment_id: str) -> GatewayError:
    return GatewayError(f"payment {payment_id[:80]} is already refunded", status=422)
