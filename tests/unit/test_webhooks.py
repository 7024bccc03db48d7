"""Receiving webhooks against the fakes: stored once, applied in the same transaction,
duplicates without side effects, unreadable bodies refused, malformed ones kept as
anomalies, unknown types ignored, transient faults rolled back, replays idempotent."""

from __future__ import annotations

import datetime as dt
import json
from types import TracebackType

import attrs
import pytest

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import Conflict, InvalidTransition, NotFound, TransientError, ValidationError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.events import PaymentEvent, SubscriptionEvent, UnreadableWebhook
from webmagic_core.payments.purchases import PurchaseStatus
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome
from webmagic_core.payments.webhooks import VerifiedWebhook
from webmagic_core.ports import UnitOfWork
from webmagic_core.services.webhooks import EventContext, EventHandler, Handled, WebhookService
from webmagic_core.sites import Actor
from webmagic_core.testing.fakes import FakeUnitOfWork
from webmagic_core.testing.payments import ADMIN_EMAIL, PaymentsWorld, payment_payload, payments_world


@pytest.fixture
def world() -> PaymentsWorld:
    w = payments_world()
    w.preview()
    return w


def paid_payload(world: PaymentsWorld) -> dict[str, object]:
    started = world.purchases.start("casa-rosa", "rosa@example.com")
    return world.paid_payload(started.checkout_id)


@attrs.define
class RecordingHandler:
    """A handler that records what it is given and answers ``outcome``."""

    outcome: WebhookOutcome = WebhookOutcome.PROCESSED
    seen: list[tuple[PaymentEvent, EventContext]] = attrs.field(factory=list)

    def prefetch(self, event: PaymentEvent) -> None:
        return None

    def handle(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        self.seen.append((event, context))
        return Handled(self.outcome, note="recorded")


@attrs.define
class FailingHandler:
    """Changes the site, then raises ``error`` (``times`` times), then delegates."""

    inner: EventHandler
    error: Exception
    times: int = 1

    def prefetch(self, event: PaymentEvent) -> object | None:
        return self.inner.prefetch(event)

    def handle(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        if self.times > 0:
            self.times -= 1
            site = uow.sites.get_by_slug("casa-rosa", for_update=True)
            assert site is not None
            site.business_name = "half-applied"
            uow.sites.save(site)
            raise self.error
        return self.inner.handle(uow, event, context)


def with_handlers(world: PaymentsWorld, **handlers: EventHandler | None) -> WebhookService:
    world.webhooks = attrs.evolve(world.webhooks, **handlers)
    return world.webhooks


# --- storing and answering -------------------------------------------------------------------


def test_a_processed_event_is_stored_with_its_body_and_what_it_touched(world: PaymentsWorld) -> None:
    payload = paid_payload(world)
    body = json.dumps(payload).encode()
    received = world.clock.now()
    assert world.deliver(body, "msg_1") is WebhookOutcome.PROCESSED
    stored = world.webhooks.get("msg_1")
    assert (stored.event_type, stored.body, stored.received_at, stored.processed_at) == (
        "payment_intent.succeeded",
        body.decode(),
        received,
        received,
    )
    [purchase] = world.store.purchases.values()
    assert (stored.outcome, stored.error, stored.site_id, stored.purchase_id) == (
        WebhookOutcome.PROCESSED,
        None,
        purchase.site_id,
        purchase.id,
    )
    assert [e.id for e in world.webhooks.list()] == ["msg_1"]
    assert world.webhooks.list(outcome=WebhookOutcome.IGNORED) == []
    with pytest.raises(NotFound):
        world.webhooks.get("msg_unknown")


def test_a_repeated_message_id_is_a_duplicate_without_side_effects(world: PaymentsWorld) -> None:
    payload = paid_payload(world)
    world.deliver(payload, "msg_1")
    snapshot = attrs.evolve(world.store)
    counts = {
        name: len(getattr(snapshot, name)) for name in ("outbox", "events", "customers", "webhook_events")
    }
    world.clock.advance(dt.timedelta(minutes=1))
    # Even with another body: the id is the idempotency key.
    assert world.deliver(payload, "msg_1") is WebhookOutcome.DUPLICATE
    assert world.deliver({"event_type": "refund.create", "id": "re_1"}, "msg_1") is WebhookOutcome.DUPLICATE
    assert {name: len(getattr(world.store, name)) for name in counts} == counts
    assert world.store.webhook_events["msg_1"].processed_at != world.clock.now()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'"a string"',
        b"null",
        b"[" * 100_000,
    ],
    ids=["empty", "text", "not-utf8", "array", "string", "null", "deep"],
)
def test_an_unreadable_body_is_refused_and_nothing_is_stored(world: PaymentsWorld, body: bytes) -> None:
    with pytest.raises(UnreadableWebhook) as caught:
        world.deliver(body, "msg_bad")
    assert isinstance(caught.value, ValidationError)
    assert caught.value.field == "body"
    assert world.store.webhook_events == {}
    assert world.store.anomalies == {}


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "pa_1", "event_type": "payment_intent.succeeded", "checkout": {"id": "ch_1"}},
        {"id": "pa_1", "event_type": "payment_intent.succeeded", "amount_in_cents": 49500, "currency": "USD"},
        {"id": "pa_1", "amount_in_cents": 49500, "currency": "USD", "checkout": {"id": "ch_1"}},
        {"event_type": "subscription.cancel", "customer_email": "rosa@example.com"},
    ],
    ids=["no-amount", "nothing-to-match", "no-type", "subscription-without-id"],
)
def test_a_malformed_event_is_stored_as_an_anomaly_not_dropped(
    world: PaymentsWorld, payload: dict[str, object]
) -> None:
    outcome = world.deliver(payload, "msg_bad")
    assert outcome is WebhookOutcome.ANOMALY
    assert outcome.answer == "processed"  # recorded: a retry would not change anything
    stored = world.store.webhook_events["msg_bad"]
    assert stored.outcome is WebhookOutcome.ANOMALY
    assert stored.error is not None
    assert "malformed" in stored.error
    assert json.loads(stored.body) == payload
    [anomaly] = world.store.anomalies.values()
    assert (anomaly.kind, anomaly.webhook_event_id) == (AnomalyKind.MALFORMED_EVENT, "msg_bad")
    assert "webmagic webhooks replay msg_bad" in anomaly.details
    [alert] = world.mails(EmailTemplate.ANOMALY_ALERT)
    assert alert.message.to == ADMIN_EMAIL
    # Replayed, it is still malformed, and still one anomaly.
    assert world.webhooks.replay("msg_bad") is WebhookOutcome.ANOMALY
    assert len(world.store.anomalies) == 1


@pytest.mark.parametrize(
    "event_type",
    [
        "bank_transfer_intent.pending",
        "intent.succeeded",
        "something.new",
    ],
)
def test_an_event_type_not_acted_on_is_stored_and_ignored(world: PaymentsWorld, event_type: str) -> None:
    assert world.deliver({"id": "x_1", "event_type": event_type}, "msg_i") is WebhookOutcome.IGNORED
    stored = world.store.webhook_events["msg_i"]
    assert (stored.event_type, stored.outcome) == (event_type, WebhookOutcome.IGNORED)
    assert stored.error == f"{event_type} events are not acted on"
    assert world.store.anomalies == {}


def test_subscription_events_are_stored_and_ignored_until_a_handler_is_plugged_in(
    world: PaymentsWorld,
) -> None:
    started = world.purchases.start("casa-rosa", "rosa@example.com")
    info = attrs.evolve(
        world.gateway.pay(started.checkout_id), paymentable_type="Subscription", paymentable_id="su_1"
    )
    subscription_payment = payment_payload(info)
    subscription_event = {
        "id": "su_1",
        "event_type": "subscription.create",
        "customer_email": "rosa@example.com",
    }
    assert world.deliver(subscription_payment, "msg_s1") is WebhookOutcome.IGNORED
    assert world.deliver(subscription_event, "msg_s2") is WebhookOutcome.IGNORED
    assert (
        world.store.webhook_events["msg_s1"].error
        == "payment_intent.succeeded: subscriptions are not handled yet"
    )
    # Not taken for the one-time purchase of the same checkout.
    assert world.store.purchases[started.purchase_id].status is PurchaseStatus.PENDING

    handler = RecordingHandler()
    with_handlers(world, subscriptions=handler)
    assert world.deliver(subscription_payment, "msg_s3") is WebhookOutcome.PROCESSED
    assert world.deliver(subscription_event, "msg_s4") is WebhookOutcome.PROCESSED
    [(payment, context), (event, _)] = handler.seen
    assert payment.event_type == "payment_intent.succeeded"
    assert (context.reference, context.actor, context.webhook_event_id) == ("msg_s3", Actor.WEBHOOK, "msg_s3")
    assert isinstance(event, SubscriptionEvent)
    assert (event.subscription_id, event.customer_email) == ("su_1", "rosa@example.com")
    assert world.store.purchases[started.purchase_id].status is PurchaseStatus.PENDING


# --- faults ----------------------------------------------------------------------------------


def test_a_transient_fault_rolls_everything_back_so_the_retry_applies_it(world: PaymentsWorld) -> None:
    payload = paid_payload(world)
    with_handlers(world, purchases=FailingHandler(world.purchases, TransientError("database busy")))
    with pytest.raises(TransientError):
        world.deliver(payload, "msg_1")
    assert world.store.webhook_events == {}
    assert world.site().business_name == "Casa Rosa"
    assert world.site().status is SiteStatus.PREVIEW
    # The provider retries with the same id: processed now.
    assert world.deliver(payload, "msg_1") is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.OWNED


@pytest.mark.parametrize(
    "error", [ValidationError("the buyer's address is not valid", field="email"), InvalidTransition("no")]
)
def test_a_rule_broken_while_applying_is_kept_as_an_anomaly_without_partial_changes(
    world: PaymentsWorld, error: Exception
) -> None:
    payload = paid_payload(world)
    with_handlers(world, purchases=FailingHandler(world.purchases, error))
    assert world.deliver(payload, "msg_1") is WebhookOutcome.ANOMALY
    assert world.site().business_name == "Casa Rosa"  # the half-applied change is gone
    stored = world.store.webhook_events["msg_1"]
    assert (stored.outcome, stored.error) == (WebhookOutcome.ANOMALY, str(error))
    [anomaly] = world.store.anomalies.values()
    assert anomaly.kind is AnomalyKind.PROCESSING_ERROR
    # Once the cause is fixed (here: the handler stops failing) a replay applies it.
    assert world.webhooks.replay("msg_1") is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.OWNED
    assert world.store.webhook_events["msg_1"].outcome is WebhookOutcome.PROCESSED


@attrs.define
class ConflictOnCommit(FakeUnitOfWork):
    """Fails the next commits with ``Conflict``; ``concurrent_id`` is then stored as if a
    concurrent transaction had committed that event."""

    failures: list[str | None] = attrs.field(factory=list)
    _concurrent: str | None = attrs.field(default=None, init=False)

    def commit(self) -> None:
        if self.failures:
            self._concurrent = self.failures.pop(0)
            raise Conflict("unique constraint violated")
        super().commit()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        concurrent = self._concurrent
        if concurrent is not None:
            self.store.webhook_events[concurrent] = WebhookEvent(
                id=concurrent,
                event_type="payment_intent.succeeded",
                body="{}",
                received_at=dt.datetime.now(dt.UTC),
            )


@pytest.mark.parametrize(("concurrent", "expected"), [("msg_1", "duplicate"), (None, "transient")])
def test_a_conflict_at_commit_is_a_duplicate_or_a_transient_fault(
    world: PaymentsWorld, concurrent: str | None, expected: str
) -> None:
    payload = paid_payload(world)
    failing = ConflictOnCommit(store=world.store, failures=[concurrent])
    world.webhooks = attrs.evolve(world.webhooks, uow=lambda: failing if failing.failures else world.uow())
    if expected == "duplicate":
        assert world.deliver(payload, "msg_1") is WebhookOutcome.DUPLICATE
    else:
        with pytest.raises(TransientError, match="concurrent change"):
            world.deliver(payload, "msg_1")
        assert world.store.webhook_events == {}
    assert world.site().status is SiteStatus.PREVIEW
    assert world.store.customers == {}


def test_replaying_an_unknown_event_is_not_found(world: PaymentsWorld) -> None:
    with pytest.raises(NotFound):
        world.webhooks.replay("msg_nope")


def test_replay_is_idempotent_and_records_the_latest_run(world: PaymentsWorld) -> None:
    world.deliver(paid_payload(world), "msg_1")
    mails, events = len(world.store.outbox), len(world.store.events)
    world.clock.advance(dt.timedelta(hours=1))
    assert world.webhooks.replay("msg_1") is WebhookOutcome.PROCESSED
    assert world.webhooks.replay("msg_1") is WebhookOutcome.PROCESSED
    assert (len(world.store.outbox), len(world.store.events)) == (mails, events)
    assert world.store.webhook_events["msg_1"].processed_at == world.clock.now()


def test_the_answer_to_the_provider_is_one_of_three_words() -> None:
    assert {o.answer for o in WebhookOutcome} == {"processed", "duplicate", "ignored"}


def test_a_verified_webhook_goes_in_unchanged(world: PaymentsWorld) -> None:
    body = b'\xef\xbb\xbf{"event_type": "intent.succeeded", "id": "re_1"}'  # with a UTF-8 BOM
    webhook = VerifiedWebhook(message_id="msg_bom", timestamp=world.clock.now(), body=body)
    assert world.webhooks.receive(webhook) is WebhookOutcome.IGNORED
    assert world.store.webhook_events["msg_bom"].body == '{"event_type": "intent.succeeded", "id": "re_1"}'
