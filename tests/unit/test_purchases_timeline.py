"""One timeline per site: transitions, purchase, checkout, webhooks, anomalies and emails,
in time order; and the operators' anomaly list."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from webmagic_core.errors import Conflict, NotFound
from webmagic_core.money import Money
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.services.outbox import OutboxRelay
from webmagic_core.services.timeline import TimelineEntry, TimelineKind
from webmagic_core.testing.accounts import FakeMailer
from webmagic_core.testing.payments import PaymentsWorld, payment_payload, payments_world

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def world() -> PaymentsWorld:
    w = payments_world()
    w.preview()
    return w


def kinds_and_summaries(entries: list[TimelineEntry] | tuple[TimelineEntry, ...]) -> list[tuple[str, str]]:
    return [(e.kind.value, e.summary) for e in entries]


def test_the_timeline_of_a_sale(world: PaymentsWorld) -> None:
    t0 = world.clock.now()
    world.clock.advance(MINUTE)
    first = world.purchases.start("casa-rosa", "eva@example.com")
    world.clock.advance(MINUTE)
    info = world.gateway.checkout(first.checkout_id)
    world.deliver(
        payment_payload(info, event_type="payment_intent.failed", failure_reason="declined"), "msg_f"
    )
    world.clock.advance(15 * MINUTE)  # the declined checkout stays payable until its hold ends
    second = world.purchases.start("casa-rosa", "rosa@example.com")
    world.clock.advance(MINUTE)
    world.deliver(world.paid_payload(second.checkout_id), "msg_p")
    world.clock.advance(MINUTE)
    mailer = FakeMailer()
    mailer.fail_next(1, transient=False)  # the confirmation bounces for good
    OutboxRelay(uow=world.uow, mailer=mailer, clock=world.clock, renderer=world.renderer).drain()
    world.deliver({"event_type": "intent.succeeded", "id": "re_1"}, "msg_other")  # touches no site

    entries = world.timeline.for_site("casa-rosa")
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert entries[0] == TimelineEntry(t0, TimelineKind.SITE, "created as preview: created (admin)", None)
    paid = world.purchase(second.purchase_id)
    assert kinds_and_summaries(entries[1:]) == [
        (
            "purchase",
            f"purchase started by eva@example.com for 495.00 USD, holding the site until "
            f"{(t0 + 16 * MINUTE).isoformat()}",
        ),
        ("checkout", f"checkout {first.checkout_id} created"),
        ("webhook", "webhook payment_intent.failed received, processed"),
        ("purchase", "purchase expired: declined"),
        (
            "purchase",
            f"purchase started by rosa@example.com for 495.00 USD, holding the site until "
            f"{(t0 + 32 * MINUTE).isoformat()}",
        ),
        ("checkout", f"checkout {second.checkout_id} created"),
        ("site", f"preview -> owned: purchase {paid.id} paid (webhook)"),
        ("purchase", f"purchase paid (payment {paid.payment_id})"),
        ("webhook", "webhook payment_intent.succeeded received, processed"),
        (
            "email",
            "email purchase_confirmation to rosa@example.com queued, then given up after 1 attempt(s): "
            "fake permanent failure sending to rosa@example.com",
        ),
        ("email", "email welcome_set_password to rosa@example.com queued"),
        ("email", "email welcome_set_password to rosa@example.com sent"),
    ]
    by_kind = {(e.kind, e.summary.split(" ")[1]): e.reference for e in entries}
    assert by_kind[(TimelineKind.WEBHOOK, "payment_intent.succeeded")] == "msg_p"
    [owned] = [e for e in entries if e.summary.startswith("preview -> owned")]
    assert owned.reference == "msg_p"


def test_anomalies_are_listed_resolved_and_shown_on_the_timeline(world: PaymentsWorld) -> None:
    started = world.purchases.start("casa-rosa", "rosa@example.com")
    world.deliver(payment_payload(world.gateway.pay(started.checkout_id, amount=Money(5, "USD"))), "msg_m")
    [anomaly] = world.anomalies.list()
    assert anomaly.kind is AnomalyKind.AMOUNT_MISMATCH
    world.clock.advance(MINUTE)
    resolved = world.anomalies.resolve(anomaly.id, "  refunded  in full ")
    assert (resolved.resolved_at, resolved.resolution) == (world.clock.now(), "refunded in full")
    assert world.anomalies.list() == []
    assert [a.id for a in world.anomalies.list(open_only=False)] == [anomaly.id]
    assert world.anomalies.get(anomaly.id).resolution == "refunded in full"
    with pytest.raises(Conflict):
        world.anomalies.resolve(anomaly.id, "again")
    with pytest.raises(NotFound):
        world.anomalies.resolve(uuid.uuid4(), "x")
    with pytest.raises(NotFound):
        world.anomalies.get(uuid.uuid4())
    entries = [e for e in world.timeline.for_site("casa-rosa") if e.kind is TimelineKind.ANOMALY]
    assert [e.summary.split(":")[0] for e in entries] == ["anomaly (amount_mismatch)", "anomaly resolved"]
    assert {e.reference for e in entries} == {str(anomaly.id)}
    alerts = [e for e in world.timeline.for_site("casa-rosa") if "anomaly_alert" in e.summary]
    assert len(alerts) == 1


def test_an_archived_site_still_has_its_timeline_and_an_unknown_one_has_none(world: PaymentsWorld) -> None:
    world.sites.archive("casa-rosa")
    assert [e.summary for e in world.timeline.for_site("casa-rosa")][-1].startswith("preview -> archived")
    with pytest.raises(NotFound):
        world.timeline.for_site("nope")
