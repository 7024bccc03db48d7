"""Exact answers of the purchase limits, and payment failures that arrive too late.

`Retry-After` must name a moment when the buyer may really start again: when two limits bite at
once, the later of the two waits. The start limits live in the shared limiter under namespaced,
hashed keys. A failed payment for a hold that is over changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest

from webmagic_core.errors import Throttled
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.purchases import Purchase, PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.accounts import Limit
from webmagic_core.services.purchases import PurchaseLimits
from webmagic_core.testing.payments import PRICE, PaymentsWorld, payment_payload, payments_world

BUYER = "rosa@example.com"
OTHER = "luis@example.com"
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
MANY = 1_000


def world_with_sites(count: int, limits: PurchaseLimits) -> PaymentsWorld:
    world = payments_world(limits=limits)
    for n in range(count):
        world.preview(f"site-{n}", f"Site {n}")
    return world


def refused(world: PaymentsWorld, slug: str, email: str, client: str | None) -> Throttled:
    with pytest.raises(Throttled) as caught:
        world.purchases.start(slug, email, client=client)
    # Refused before anything was held or created.
    assert world.purchases.held_until(world.site(slug).id) is None
    assert world.site(slug).status is SiteStatus.PREVIEW
    return caught.value


# --- start attempts per email and per client ------------------------------------------------


@pytest.mark.parametrize(
    ("email_window", "client_window"),
    [(HOUR, 2 * HOUR), (2 * HOUR, HOUR)],
    ids=["client-later", "email-later"],
)
def test_when_both_attempt_limits_bite_retry_after_is_the_later_wait(
    email_window: dt.timedelta, client_window: dt.timedelta
) -> None:
    limits = PurchaseLimits(
        per_email=Limit(1, email_window),
        per_client=Limit(1, client_window),
        holds_per_email=MANY,
        holds_per_client=MANY,
    )
    world = world_with_sites(2, limits)
    world.purchases.start("site-0", BUYER, client="203.0.113.7")
    world.clock.advance(30 * MINUTE)
    error = refused(world, "site-1", BUYER, "203.0.113.7")
    assert error.retry_after == int((max(email_window, client_window) - 30 * MINUTE).total_seconds())
    assert error.detail == "too many purchase attempts; try again later"
    # The refused attempt was not counted: once the later wait is over, the buyer may start.
    world.clock.advance(dt.timedelta(seconds=error.retry_after))
    world.purchases.start("site-1", BUYER, client="203.0.113.7")


def test_one_limit_alone_answers_its_own_wait() -> None:
    limits = PurchaseLimits(
        per_email=Limit(1, HOUR), per_client=Limit(1, 2 * HOUR), holds_per_email=MANY, holds_per_client=MANY
    )
    world = world_with_sites(3, limits)
    world.purchases.start("site-0", BUYER, client="203.0.113.7")
    world.clock.advance(30 * MINUTE)
    assert refused(world, "site-1", BUYER, "198.51.100.1").retry_after == 30 * 60
    assert refused(world, "site-1", OTHER, "203.0.113.7").retry_after == 90 * 60


def test_attempts_are_counted_in_the_shared_limiter_under_hashed_namespaced_keys() -> None:
    limits = PurchaseLimits(
        per_email=Limit(1, HOUR), per_client=Limit(1, HOUR), holds_per_email=MANY, holds_per_client=MANY
    )
    world = world_with_sites(1, limits)
    world.purchases.start("site-0", BUYER, client="203.0.113.7")

    def key(kind: str, value: str) -> str:
        return f"webmagic:purchase-{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"

    limiter = world.purchases.rate_limiter
    # Each key now holds one attempt: a limit of one is full, under that exact name.
    assert limiter.peek(key("email", BUYER), limit=1, window=HOUR) == 3600
    assert limiter.peek(key("client", "203.0.113.7"), limit=1, window=HOUR) == 3600
    assert limiter.peek(key("client", BUYER), limit=1, window=HOUR) is None
    assert limiter.peek(key("email", "203.0.113.7"), limit=1, window=HOUR) is None


# --- sites held at once per email and per client ----------------------------------------------


def test_when_both_hold_limits_bite_retry_after_is_the_later_wait() -> None:
    world = world_with_sites(3, PurchaseLimits(holds_per_email=1, holds_per_client=1))
    start = world.clock.now()
    world.purchases.start("site-0", BUYER, client="198.51.100.1")  # BUYER's hold ends at +15 min
    world.clock.advance(5 * MINUTE)
    world.purchases.start("site-1", OTHER, client="203.0.113.7")  # this client's hold ends at +20 min
    world.clock.advance(MINUTE)
    error = refused(world, "site-2", BUYER, "203.0.113.7")
    client_hold_ends = start + 20 * MINUTE
    assert error.retry_after == int((client_hold_ends - world.clock.now()).total_seconds()) + 1 == 14 * 60 + 1
    assert error.detail == "you are already buying 1 site(s); finish or leave those checkouts first"
    world.clock.advance(dt.timedelta(seconds=error.retry_after))
    world.purchases.start("site-2", BUYER, client="203.0.113.7")


def test_the_hold_wait_counts_to_the_earliest_hold_end_and_is_at_least_a_second() -> None:
    world = world_with_sites(4, PurchaseLimits(holds_per_email=2, holds_per_client=MANY))
    world.purchases.start("site-0", BUYER)
    world.clock.advance(MINUTE)
    world.purchases.start("site-1", BUYER)
    world.clock.advance(MINUTE)
    error = refused(world, "site-2", BUYER, None)
    assert error.retry_after == 13 * 60 + 1  # the first hold ends 13 minutes from now
    assert error.detail == "you are already buying 2 site(s); finish or leave those checkouts first"
    world.clock.advance(13 * MINUTE - dt.timedelta(milliseconds=500))
    assert refused(world, "site-2", BUYER, None).retry_after == 1


def test_holds_of_other_buyers_beyond_a_page_of_purchases_do_not_hide_this_buyers_holds() -> None:
    world = world_with_sites(3, PurchaseLimits(holds_per_email=2, holds_per_client=MANY))
    world.purchases.start("site-0", BUYER)
    world.purchases.start("site-1", BUYER)
    world.clock.advance(MINUTE)
    # More newer holds of other buyers than one default page (100) of purchases: put straight
    # into the store, since starting 101 checkouts would make the test slow.
    for n in range(101):
        other = Purchase.new(
            site_id=uuid.uuid4(), amount=PRICE, buyer_email=f"buyer-{n}@example.com", now=world.clock.now()
        )
        world.store.purchases[other.id] = other
    refused(world, "site-2", BUYER, None)


def test_a_finished_purchase_no_longer_counts_as_a_hold() -> None:
    world = world_with_sites(2, PurchaseLimits(holds_per_email=1, holds_per_client=MANY))
    started = world.purchases.start("site-0", BUYER)
    world.deliver(world.paid_payload(started.checkout_id))
    assert world.purchase(started.purchase_id).status is PurchaseStatus.PAID
    world.purchases.start("site-1", BUYER)


# --- a failed payment after the hold is over ----------------------------------------------------


def test_a_failed_payment_after_an_expired_hold_changes_nothing() -> None:
    world = world_with_sites(1, PurchaseLimits())
    first = world.purchases.start("site-0", BUYER, client="198.51.100.1")
    world.clock.advance(world.purchases.config.hold)
    second = world.purchases.start("site-0", OTHER, client="203.0.113.7")
    expired = world.purchase(first.purchase_id)
    assert expired.status is PurchaseStatus.EXPIRED

    late = payment_payload(world.gateway.checkout(first.checkout_id), event_type="payment_intent.failed")
    assert world.deliver(late, "msg_late") is WebhookOutcome.PROCESSED
    after = world.purchase(first.purchase_id)
    assert (after.status, after.failure_reason, after.closed_at) == (
        PurchaseStatus.EXPIRED,
        expired.failure_reason,
        expired.closed_at,
    )
    # The new buyer keeps the site.
    assert world.purchases.held_until(world.site("site-0").id) == second.expires_at
    assert world.purchase(second.purchase_id).status is PurchaseStatus.PENDING
    assert world.store.anomalies == {}


def test_a_failed_payment_of_a_hold_gone_stale_keeps_it_stale_and_the_site_free() -> None:
    world = world_with_sites(1, PurchaseLimits())
    first = world.purchases.start("site-0", BUYER)
    world.clock.advance(world.purchases.config.hold)
    late = payment_payload(world.gateway.checkout(first.checkout_id), event_type="payment_intent.failed")
    assert world.deliver(late) is WebhookOutcome.PROCESSED
    purchase = world.purchase(first.purchase_id)
    assert purchase.failure_reason == "the payment failed"
    assert purchase.expires_at == first.expires_at  # a decline never extends the hold
    assert world.purchases.held_until(world.site("site-0").id) is None
    world.purchases.start("site-0", OTHER)
    assert world.purchase(first.purchase_id).status is PurchaseStatus.EXPIRED


def test_a_failure_naming_only_an_unknown_purchase_is_ignored_with_that_id() -> None:
    world = world_with_sites(1, PurchaseLimits())
    payload = {
        "id": "pa_x",
        "event_type": "payment_intent.failed",
        "checkout": {"id": None, "metadata": {"purchase_id": "00000000-0000-4000-8000-000000000001"}},
        "failure_reason": "declined",
    }
    assert world.deliver(payload, "msg_f") is WebhookOutcome.IGNORED
    stored = world.store.webhook_events["msg_f"]
    assert stored.error is not None
    assert "00000000-0000-4000-8000-000000000001" in stored.error
