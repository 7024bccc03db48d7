"""What a purchase leaves behind for people: the business events (`purchase.started`,
`purchase.paid`: found by name and ids in the logs), the anomaly and the operators' mail of a
payment made twice, and the refusals a buyer reads."""

from __future__ import annotations

import datetime as dt
import logging

import attrs
import pytest

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import Conflict, NotFound, ValidationError
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.testing.payments import ADMIN_EMAIL, PaymentsWorld, payment_payload, payments_world

BUYER = "rosa@example.com"
OTHER = "luis@example.com"
SECOND = "pa_second0000000000000000"


@pytest.fixture
def world() -> PaymentsWorld:
    w = payments_world()
    w.preview()
    return w


def events_named(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "webmagic.events" and getattr(r, "event", None) == name]


def fields(record: logging.LogRecord, *names: str) -> dict[str, object]:
    return {name: getattr(record, name, "<missing>") for name in names}


def test_starting_and_paying_log_one_event_each_with_their_ids(
    world: PaymentsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="webmagic.events")
    started = world.purchases.start("casa-rosa", BUYER)
    site = world.site()
    [began] = events_named(caplog, "purchase.started")
    assert began.getMessage() == (
        f"purchase {started.purchase_id} started for site casa-rosa: checkout {started.checkout_id}"
    )
    purchase = world.purchase(started.purchase_id)
    assert fields(began, "purchase_id", "site_id", "slug", "checkout_id", "amount_in_cents", "currency") == {
        "purchase_id": str(started.purchase_id),
        "site_id": str(site.id),
        "slug": "casa-rosa",
        "checkout_id": started.checkout_id,
        "amount_in_cents": purchase.amount.amount_in_cents,
        "currency": purchase.amount.currency,
    }

    info = world.gateway.pay(started.checkout_id)
    assert world.deliver(payment_payload(info), "msg_paid") is WebhookOutcome.PROCESSED
    paid = world.purchase(started.purchase_id)
    [sold] = events_named(caplog, "purchase.paid")
    assert sold.levelno == logging.INFO
    reference = sold.reference  # type: ignore[attr-defined]
    assert isinstance(reference, str)
    assert "msg_paid" in reference
    assert sold.getMessage() == f"site casa-rosa sold: purchase {started.purchase_id} paid ({reference})"
    assert fields(sold, "purchase_id", "site_id", "slug", "customer_id", "payment_id") == {
        "purchase_id": str(started.purchase_id),
        "site_id": str(site.id),
        "slug": "casa-rosa",
        "customer_id": str(paid.customer_id),
        "payment_id": info.payment_id,
    }
    assert paid.customer_id is not None
    assert paid.payment_id == info.payment_id


def test_a_second_payment_is_recorded_as_one_exact_anomaly_and_mailed_to_operators(
    world: PaymentsWorld,
) -> None:
    started = world.purchases.start("casa-rosa", BUYER)
    info = world.gateway.pay(started.checkout_id)
    world.deliver(payment_payload(info))
    now = world.clock.now()
    assert world.deliver(payment_payload(info, payment_id=SECOND), "msg_twice") is WebhookOutcome.ANOMALY

    purchase = world.purchase(started.purchase_id)
    reason = f"a second payment {SECOND} of {purchase.amount}; {info.payment_id} was applied"
    [anomaly] = world.anomalies.list()
    assert anomaly.kind is AnomalyKind.DUPLICATE_PAYMENT
    assert anomaly.key == f"duplicate_payment:{SECOND}"
    assert anomaly.summary == f"purchase {purchase.id} was paid twice: {reason}"
    assert anomaly.details == (
        f"Buyer {BUYER}, checkout {started.checkout_id}.\n"
        f"Refund payment {SECOND} (POST /refunds with that payment id): "
        f"the purchase is paid with payment {info.payment_id}. Then resolve this anomaly."
    )
    assert (anomaly.site_id, anomaly.purchase_id, anomaly.webhook_event_id, anomaly.created_at) == (
        purchase.site_id,
        purchase.id,
        "msg_twice",
        now,
    )
    stored = world.store.webhook_events["msg_twice"]
    assert stored.error == f"refund due: {reason}"
    assert (stored.site_id, stored.purchase_id) == (purchase.site_id, purchase.id)

    [alert] = world.mails(EmailTemplate.ANOMALY_ALERT, to=ADMIN_EMAIL)
    assert alert.created_at == now
    text = repr(alert.data)
    assert "casa-rosa" in text
    assert "msg_twice" in text
    # The purchase keeps the payment it was sold with.
    assert purchase.payment_id == info.payment_id


def test_the_refusals_a_buyer_reads(world: PaymentsWorld) -> None:
    with pytest.raises(ValidationError) as no_email:
        world.purchases.start("casa-rosa", None)
    assert no_email.value.detail == "an email address is needed to buy a site"
    for slug in ("nowhere", "Bad Slug!"):
        with pytest.raises(NotFound) as unknown:
            world.purchases.start(slug, BUYER)
        assert unknown.value.detail == f"no site has the slug {slug!r}"


@pytest.mark.parametrize(
    ("elapsed_seconds", "minutes"), [(0, 15), (60, 14), (61, 14), (299, 11), (899, 1), (870, 1)]
)
def test_a_held_site_says_in_how_many_whole_minutes_to_try_again(
    world: PaymentsWorld, elapsed_seconds: int, minutes: int
) -> None:
    world.purchases.start("casa-rosa", BUYER, client="198.51.100.1")
    world.clock.advance(dt.timedelta(seconds=elapsed_seconds))
    with pytest.raises(Conflict) as caught:
        world.purchases.start("casa-rosa", OTHER, client="203.0.113.7")
    assert caught.value.detail == (
        f"someone else is buying this site right now; try again in {minutes} minute(s)"
    )


def test_a_signed_in_buyer_without_a_phone_of_their_own_gets_the_accounts_phone(world: PaymentsWorld) -> None:
    world.accounts.register(BUYER, "a long enough passphrase", "Rosa")
    customer = next(iter(world.store.customers.values()))
    world.store.customers[customer.id] = attrs.evolve(customer, phone="+50255550000")
    started = world.purchases.start("casa-rosa", customer_id=customer.id)
    assert world.purchase(started.purchase_id).buyer_phone == "+50255550000"
