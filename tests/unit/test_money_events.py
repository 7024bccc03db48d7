"""Money events beyond card payments: bank transfers are payments like cards, refunds and
disputes are recorded, shown on the site's timeline and mailed to the operators, renewals
of another amount are anomalies, and a resolved anomaly does not silence the next event."""

from __future__ import annotations

from webmagic_adapters.payments.provider_model import subscription_payment_payload
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.services.timeline import TimelineKind
from webmagic_core.testing.payments import ADMIN_EMAIL, payment_payload, payments_world
from webmagic_core.testing.subscriptions import subscriptions_world


def test_a_bank_transfer_pays_like_a_card() -> None:
    world = payments_world()
    world.preview()
    started = world.purchases.start("casa-rosa", "rosa@example.com")
    payload = world.paid_payload(started.checkout_id)
    payload["event_type"] = "bank_transfer_intent.succeeded"
    assert world.deliver(payload) is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.OWNED


def test_a_refund_is_recorded_on_the_sites_timeline_and_mailed() -> None:
    world = payments_world()
    world.preview()
    started = world.purchases.start("casa-rosa", "rosa@example.com")
    paid = world.paid_payload(started.checkout_id)
    world.deliver(paid)
    refund = {
        "event_type": "refund.create",
        "id": "re_1",
        "amount_in_cents": 49500,
        "payment_intent": {"id": paid["id"], "checkout": {"id": started.checkout_id}},
    }
    assert world.deliver(refund, "msg_refund") is WebhookOutcome.ANOMALY
    [anomaly] = world.anomalies.list()
    assert anomaly.kind is AnomalyKind.REFUND
    assert anomaly.site_id == world.site().id
    assert str(paid["id"]) in anomaly.summary
    assert ADMIN_EMAIL in [m.message.to for m in world.mails(EmailTemplate.ANOMALY_ALERT)]
    timeline = world.timeline.for_site("casa-rosa")
    assert any(e.kind is TimelineKind.ANOMALY and "refund.create" in e.summary for e in timeline)
    # The same delivery again records nothing new.
    assert world.deliver(refund, "msg_refund") is WebhookOutcome.DUPLICATE
    assert len(world.anomalies.list()) == 1


def test_a_dispute_on_a_subscription_payment_is_an_anomaly_on_its_site() -> None:
    world = subscriptions_world()
    world.owned_site()
    _, provider_id = world.subscribe()
    [payment] = world.store.subscription_payments.values()
    dispute = {"event_type": "dispute.create", "id": "dp_1", "payment_intent": {"id": payment.payment_id}}
    assert world.deliver(dispute) is WebhookOutcome.ANOMALY
    [anomaly] = [a for a in world.payments.anomalies.list() if a.kind is AnomalyKind.DISPUTE]
    assert anomaly.site_id == world.site().id
    assert "chargeback" in anomaly.details
    del provider_id


def test_a_renewal_of_another_amount_is_an_anomaly() -> None:
    world = subscriptions_world()
    world.owned_site()
    _, provider_id = world.subscribe()
    odd = subscription_payment_payload(
        provider_id, "pa_odd", created_at=world.clock.now(), amount=Money(100, "USD"), customer_email=None
    )
    world.deliver(odd)
    kinds = [a.kind for a in world.payments.anomalies.list()]
    assert AnomalyKind.AMOUNT_MISMATCH in kinds


def test_a_resolved_anomaly_does_not_silence_the_next_event() -> None:
    world = payments_world()
    world.preview()
    started = world.purchases.start("casa-rosa", "rosa@example.com")
    info = world.gateway.pay(started.checkout_id)
    stray = payment_payload(info)
    stray["checkout"] = {"id": "ch_stranger", "metadata": {}}
    assert world.deliver(stray, "msg_1") is WebhookOutcome.ANOMALY
    [first] = world.anomalies.list()
    world.anomalies.resolve(first.id, "refunded")
    # The same delivery replayed is the problem already handled...
    world.webhooks.replay("msg_1")
    assert world.anomalies.list() == []
    # ...another event with the same problem is a new one, mailed again.
    alerts = len(world.mails(EmailTemplate.ANOMALY_ALERT))
    assert world.deliver(stray, "msg_2") is WebhookOutcome.ANOMALY
    [second] = world.anomalies.list()
    assert second.id != first.id
    assert len(world.mails(EmailTemplate.ANOMALY_ALERT)) == alerts + 1
