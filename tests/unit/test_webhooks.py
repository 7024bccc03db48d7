"""Receiving webhooks against the fakes: stored once, applied in the same transaction,
duplicates without side effects, unreadable bodies refused, malformed ones kept as
anomalies, unknown types ignored, transient faults rolled back, replays idempotent."""

from __future__ import annotations

import datetime as dt
import json
import logging
from types import TracebackType

import attrs
import pytest

from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    TransientError,
    Unauthenticated,
    ValidationError,
)
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.payments.anomalies import AnomalyKind
from webmagic_core.payments.events import (
    PaymentEvent,
    SubscriptionChange,
    SubscriptionChanged,
    UnreadableWebhook,
)
from webmagic_core.payments.gateway import GatewayError, GatewayUnavailable
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


def test_subscription_events_go_to_the_subscriptions_handler_not_the_purchase(
    world: PaymentsWorld,
) -> None:
    started = world.purchases.start("casa-rosa", "rosa@example.com")
    info = attrs.evolve(world.gateway.pay(started.checkout_id), subscription_id="su_1")
    subscription_payment = payment_payload(info)
    subscription_event = {
        "id": "su_1",
        "event_type": "subscription.create",
        "customer_email": "rosa@example.com",
    }
    handler = RecordingHandler()
    with_handlers(world, subscriptions=handler)
    assert world.deliver(subscription_payment, "msg_s3") is WebhookOutcome.PROCESSED
    assert world.deliver(subscription_event, "msg_s4") is WebhookOutcome.PROCESSED
    # Not taken for the one-time purchase of the same checkout.
    [(payment, context), (event, _)] = handler.seen
    assert (payment.label, payment.subscription_id) == ("payment_intent.succeeded", "su_1")
    assert (context.reference, context.actor, context.webhook_event_id) == ("msg_s3", Actor.WEBHOOK, "msg_s3")
    assert isinstance(event, SubscriptionChanged)
    assert (event.subscription_id, event.change, event.customer_email) == (
        "su_1",
        SubscriptionChange.CREATED,
        "rosa@example.com",
    )
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


class RowChangedMeanwhile(Conflict):
    """A conflict of a kind the service has never heard of (a lock lost, a version bumped)."""


# Every error a handler may raise, and what the delivery must become: a rule broken by the
# event is an anomaly (kept, answered 200, never retried); anything that a retry may cure,
# every Conflict but InvalidTransition included, is a transient fault (500, retried).
HANDLER_ERRORS: list[tuple[Exception, str]] = [
    (Conflict("the row changed meanwhile"), "transient"),
    (RowChangedMeanwhile("version 3 is not 2"), "transient"),
    (TransientError("database busy"), "transient"),
    (GatewayUnavailable("the provider timed out"), "transient"),
    (InvalidTransition("a site that is archived cannot take 'purchase_paid'"), "anomaly"),
    (ValidationError("the buyer's address is not valid", field="email"), "anomaly"),
    (NotFound("no such checkout"), "anomaly"),
    (PermissionDenied("not yours"), "anomaly"),
    (GatewayError("the provider refused the keys", status=401), "anomaly"),
    (Unauthenticated("no session"), "anomaly"),
]


@pytest.mark.parametrize(("error", "expected"), HANDLER_ERRORS, ids=lambda v: type(v).__name__)
def test_every_handler_error_is_either_an_anomaly_or_a_transient_fault(
    world: PaymentsWorld, error: Exception, expected: str
) -> None:
    payload = paid_payload(world)
    with_handlers(world, purchases=FailingHandler(world.purchases, error))
    if expected == "transient":
        with pytest.raises(TransientError):
            world.deliver(payload, "msg_1")
        assert world.store.webhook_events == {}  # nothing kept: the retry starts afresh
        assert world.store.anomalies == {}
    else:
        assert world.deliver(payload, "msg_1") is WebhookOutcome.ANOMALY
        stored = world.store.webhook_events["msg_1"]
        assert (stored.outcome, stored.error, stored.processed_at) == (
            WebhookOutcome.ANOMALY,
            str(error),
            world.clock.now(),
        )
        [anomaly] = world.store.anomalies.values()
        assert (anomaly.kind, anomaly.webhook_event_id) == (AnomalyKind.PROCESSING_ERROR, "msg_1")
        assert anomaly.created_at == world.clock.now()
        assert anomaly.summary == "webhook msg_1 (payment_intent.succeeded) could not be applied"
        assert anomaly.details.startswith(str(error))
        assert "webmagic webhooks replay msg_1" in anomaly.details
    assert world.site().business_name == "Casa Rosa"  # the half-applied change is gone
    assert world.site().status is SiteStatus.PREVIEW
    # The provider retries (or an operator replays); once the cause is gone it is applied.
    if expected == "transient":
        assert world.deliver(payload, "msg_1") is WebhookOutcome.PROCESSED
    else:
        assert world.webhooks.replay("msg_1") is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.OWNED
    assert world.store.webhook_events["msg_1"].outcome is WebhookOutcome.PROCESSED
    assert world.store.webhook_events["msg_1"].error is None


@pytest.mark.parametrize(("error", "expected"), HANDLER_ERRORS, ids=lambda v: type(v).__name__)
def test_a_replay_that_fails_again_changes_nothing(
    world: PaymentsWorld, error: Exception, expected: str
) -> None:
    payload = paid_payload(world)
    with_handlers(world, purchases=FailingHandler(world.purchases, InvalidTransition("first run")))
    assert world.deliver(payload, "msg_1") is WebhookOutcome.ANOMALY
    with_handlers(world, purchases=FailingHandler(world.purchases, error))
    world.clock.advance(dt.timedelta(minutes=5))
    if expected == "transient":
        with pytest.raises(TransientError):
            world.webhooks.replay("msg_1")
        assert world.store.webhook_events["msg_1"].error == "first run"  # the record is untouched
    else:
        assert world.webhooks.replay("msg_1") is WebhookOutcome.ANOMALY
        stored = world.store.webhook_events["msg_1"]
        assert (stored.error, stored.processed_at) == (str(error), world.clock.now())
        assert len(world.store.webhook_events) == 1
    assert world.site().business_name == "Casa Rosa"
    assert world.site().status is SiteStatus.PREVIEW
    assert world.webhooks.replay("msg_1") is WebhookOutcome.PROCESSED
    assert world.site().status is SiteStatus.OWNED


def test_a_replay_of_an_unknown_id_names_it(world: PaymentsWorld) -> None:
    with pytest.raises(NotFound, match=r"^no webhook event has the id 'msg_nope'$"):
        world.webhooks.replay("msg_nope")


def test_a_malformed_event_without_a_type_says_so(world: PaymentsWorld) -> None:
    assert world.deliver({"data": {}}, "msg_1") is WebhookOutcome.ANOMALY
    [anomaly] = world.store.anomalies.values()
    assert anomaly.summary == "webhook msg_1 (no type) is malformed"
    assert (anomaly.created_at, anomaly.key) == (world.clock.now(), "malformed_event:msg_1")


def test_each_delivery_and_replay_leaves_one_line_for_the_operators(
    world: PaymentsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    payload = paid_payload(world)
    with_handlers(world, purchases=FailingHandler(world.purchases, TransientError("database busy")))
    with caplog.at_level(logging.INFO), pytest.raises(TransientError):
        world.deliver(payload, "msg_1")
    with caplog.at_level(logging.INFO):
        assert world.deliver(payload, "msg_1") is WebhookOutcome.PROCESSED
        assert world.webhooks.replay("msg_1") is WebhookOutcome.PROCESSED
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("webmagic")]
    received = [line for line in lines if line[1].startswith("webhook msg_1 (payment_intent.succeeded)")]
    assert received == [
        (logging.WARNING, "webhook msg_1 (payment_intent.succeeded): retry_later: database busy"),
        (logging.INFO, "webhook msg_1 (payment_intent.succeeded): processed"),
    ]
    announced = [r for r in caplog.records if getattr(r, "event", None) == "webhook.received"]
    assert [(r.webhook_event_id, r.outcome) for r in announced] == [  # type: ignore[attr-defined]
        ("msg_1", "retry_later"),
        ("msg_1", "processed"),
    ]
    assert (logging.INFO, "webhook event msg_1 replayed: processed") in lines
