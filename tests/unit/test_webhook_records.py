"""What receiving a webhook leaves for operators: the alert of a malformed event (with the event
as its reference, dated when it came), no error stored for an event applied, and the log line
of a provider call after commit that failed."""

from __future__ import annotations

import logging

import attrs
import pytest

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.payments.events import PaymentEvent
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_core.ports import UnitOfWork
from webmagic_core.services.webhooks import EventContext, Handled, run_after_commit
from webmagic_core.testing.payments import ADMIN_EMAIL, PaymentsWorld, payments_world


@pytest.fixture
def world() -> PaymentsWorld:
    w = payments_world()
    w.preview()
    return w


@attrs.define
class NotingHandler:
    """Applies nothing and answers ``outcome`` with a note."""

    outcome: WebhookOutcome

    def prefetch(self, event: PaymentEvent) -> None:
        return None

    def handle(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        return Handled(self.outcome, note="what the handler said")


def test_the_alert_of_a_malformed_event_names_it_and_is_dated_when_it_came(world: PaymentsWorld) -> None:
    now = world.clock.now()
    payload = {"event_type": "payment_intent.succeeded", "id": "pa_1", "amount_in_cents": "lots"}
    assert world.deliver(payload, "msg_bad") is WebhookOutcome.ANOMALY
    [alert] = world.mails(EmailTemplate.ANOMALY_ALERT, to=ADMIN_EMAIL)
    assert alert.created_at == now
    [data] = [m.data for m in world.mails(EmailTemplate.ANOMALY_ALERT)]
    assert data["reference"] == "msg_bad"


@pytest.mark.parametrize("outcome", [WebhookOutcome.PROCESSED, WebhookOutcome.IGNORED])
def test_only_an_event_not_applied_keeps_the_handlers_note_as_its_error(
    world: PaymentsWorld, outcome: WebhookOutcome
) -> None:
    world.webhooks = attrs.evolve(world.webhooks, purchases=NotingHandler(outcome))
    started = world.purchases.start("casa-rosa", "rosa@example.com")
    assert world.deliver(world.paid_payload(started.checkout_id), "msg_1") is outcome
    stored = world.store.webhook_events["msg_1"]
    expected = None if outcome is WebhookOutcome.PROCESSED else "what the handler said"
    assert (stored.outcome, stored.error) == (outcome, expected)


def test_a_failed_call_after_commit_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    def fails() -> None:
        raise RuntimeError("provider down")

    handled = Handled(WebhookOutcome.PROCESSED, after_commit=(fails, lambda: ran.append("second")))
    with caplog.at_level(logging.ERROR, logger="webmagic_core.services.webhooks"):
        run_after_commit(handled)
    assert ran == ["second"]
    [record] = [r for r in caplog.records if r.name == "webmagic_core.services.webhooks"]
    assert record.getMessage() == "a provider call after commit failed; reconciliation will repeat it"
    assert record.exc_info is not None
