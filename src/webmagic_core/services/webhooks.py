"""Receiving verified webhooks: store each delivery once, apply it in the same transaction.

``receive`` first lets the event's handler read what it needs from the provider
(``prefetch``, outside any transaction: a slow provider never holds a database lock), then
runs one unit of work: insert the event under the provider's message id (a repeated id is
a ``duplicate``: rolled back, no side effects), route the parsed event to its handler,
record the outcome, commit; then the calls to the provider the handler asked for after
commit (``Handled.after_commit``: closing checkouts nobody may pay any more). So an event
is stored exactly when its effects are, and a transient fault rolls both back and surfaces
as ``TransientError`` (5xx: the provider retries). Handlers are idempotent by state (a
paid purchase stays paid), which is what makes ``replay`` and reconciliation safe.

The body is read by the provider's ``PaymentEventTranslator`` into a neutral event
(``payments.events``). Routing (``WebhookService.route``): one-time payments go to the
purchases handler; payments of a subscription and subscription changes go to the
``subscriptions`` handler; money returned (refunds, disputes) is recorded as an anomaly;
any other event is stored and ``ignored``. The service is wired with both
handlers by ``services.wiring.wire``, in production and in every test world alike.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

from webmagic_core import events
from webmagic_core.errors import Conflict, InvalidTransition, NotFound, TransientError, WebMagicError
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.payments.events import (
    MalformedEvent,
    MoneyReturned,
    MoneyReturnedKind,
    PaymentEvent,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionChanged,
)
from webmagic_core.payments.webhook_log import WebhookEvent, WebhookOutcome
from webmagic_core.payments.webhooks import VerifiedWebhook
from webmagic_core.ports import Clock, PaymentEventTranslator, UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.anomalies import AnomalyReporter
from webmagic_core.sites import Actor

log = logging.getLogger(__name__)

CONCURRENT_CHANGE = "a concurrent change got in the way; the event can be delivered again"


@attrs.frozen
class EventContext:
    """Where an event comes from: ``reference`` names it in site events and anomalies
    (the webhook's message id, or ``reconcile:<checkout id>``)."""

    reference: str
    actor: Actor
    now: dt.datetime
    webhook_event_id: str | None = None
    # What the handler's ``prefetch`` read from the provider before the transaction began.
    prefetched: object | None = None


@attrs.frozen
class Handled:
    """What a handler did. ``note`` says why an event was ignored or is an anomaly (or
    that it was already applied); ``site_id``/``purchase_id`` what it touched."""

    outcome: WebhookOutcome
    note: str | None = None
    site_id: uuid.UUID | None = None
    purchase_id: uuid.UUID | None = None
    # Provider calls to make once the transaction has committed (never inside it); each
    # must be safe to lose (a periodic pass repeats what matters) and to repeat.
    after_commit: tuple[Callable[[], None], ...] = attrs.field(default=(), eq=False, repr=False)


def run_after_commit(handled: Handled) -> None:
    """Run ``handled.after_commit``; a failure is logged, never raised (the change is
    committed, and the periodic reconciliation repeats the call)."""
    for call in handled.after_commit:
        try:
            call()
        except Exception:
            log.exception("a provider call after commit failed; reconciliation will repeat it")


class EventHandler(Protocol):
    def prefetch(self, event: PaymentEvent) -> object | None:
        """Read from the provider what ``handle`` will need, before any transaction is
        open (passed back as ``EventContext.prefetched``). ``TransientError`` when the
        provider cannot answer now: the delivery is refused with 5xx and retried."""
        ...

    def handle(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        """Apply ``event`` inside ``uow`` (the caller commits). Must be idempotent by
        state: the same event applied again changes nothing and sends no mail. Raise
        ``TransientError`` for a fault worth retrying; other ``WebMagicError``s are
        recorded as a processing-error anomaly."""
        ...


Parsed = PaymentEvent | MalformedEvent


@attrs.define
class WebhookService:
    uow: UnitOfWorkFactory
    clock: Clock
    translator: PaymentEventTranslator
    purchases: EventHandler
    subscriptions: EventHandler
    anomalies: AnomalyReporter

    def receive(self, webhook: VerifiedWebhook) -> WebhookOutcome:
        """Store and apply one verified delivery. ``UnreadableWebhook`` (400, nothing
        stored) when the body is not a JSON object; ``TransientError`` when it should be
        delivered again. ``outcome.answer`` is what to tell the provider."""
        text, parsed = self._parse(webhook.body)
        try:
            try:
                outcome = self._receive(webhook.message_id, text, parsed)
            except Conflict as error:
                # From the commit: the same id committed concurrently (a duplicate after all),
                # or another write clashed (a retry will see the new state).
                if not self._stored(webhook.message_id):
                    raise TransientError(CONCURRENT_CHANGE) from error
                outcome = WebhookOutcome.DUPLICATE
        except TransientError as error:
            _announce_webhook(webhook.message_id, parsed.label, "retry_later", error.detail)
            raise
        _announce_webhook(webhook.message_id, parsed.label, outcome.value)
        return outcome

    def replay(self, event_id: str) -> WebhookOutcome:
        """Apply a stored event again (idempotent: what was applied stays applied) and
        record the new outcome."""
        now = self.clock.now()
        try:
            with self.uow() as uow:
                record = uow.webhook_events.get(event_id)
                if record is None:
                    raise NotFound(f"no webhook event has the id {event_id!r}")
                _, parsed = self._parse(record.body.encode("utf-8"))
        except Conflict as error:  # pragma: no cover - a read
            raise TransientError(CONCURRENT_CHANGE) from error
        prefetched = self._prefetch(parsed)
        try:
            with self.uow() as uow:
                record = uow.webhook_events.get(event_id)
                if record is None:  # pragma: no cover - events are never deleted
                    raise NotFound(f"no webhook event has the id {event_id!r}")
                context = attrs.evolve(self._context(event_id, now), prefetched=prefetched)
                handled = self._process(uow, record, parsed, context, new=False)
                uow.commit()
        except Conflict as error:
            raise TransientError(CONCURRENT_CHANGE) from error
        run_after_commit(handled)
        log.info("webhook event %s replayed: %s", event_id, handled.outcome.value)
        return handled.outcome

    def get(self, event_id: str) -> WebhookEvent:
        with self.uow() as uow:
            record = uow.webhook_events.get(event_id)
        if record is None:
            raise NotFound(f"no webhook event has the id {event_id!r}")
        return record

    def list(self, *, outcome: WebhookOutcome | None = None, limit: int = 100) -> Sequence[WebhookEvent]:
        """Newest first."""
        with self.uow() as uow:
            return uow.webhook_events.list(outcome=outcome, limit=limit)

    # dispatching: a typed event to the handler of its kind

    def route(self, event: PaymentEvent) -> EventHandler | None:
        match event:
            case SubscriptionChanged():
                return self.subscriptions
            case PaymentSucceeded() | PaymentFailed() if event.for_subscription:
                return self.subscriptions
            case PaymentSucceeded() | PaymentFailed():
                return self.purchases
            case _:
                return None

    def dispatch(self, uow: UnitOfWork, event: PaymentEvent, context: EventContext) -> Handled:
        handler = self.route(event)
        if handler is not None:
            return handler.handle(uow, event, context)
        if isinstance(event, MoneyReturned):
            return self._money_returned(uow, event, context)
        return Handled(WebhookOutcome.IGNORED, note=f"{event.label} events are not acted on")

    def _money_returned(self, uow: UnitOfWork, event: MoneyReturned, context: EventContext) -> Handled:
        """A refund or a dispute (chargeback): recorded as an anomaly on the site it
        concerns (so the timeline shows it) and mailed to the operators. A disputed site
        is not silently kept: the operator decides whether it stays online."""
        payment_id, checkout_id = event.payment_id, event.checkout_id
        site_id: uuid.UUID | None = None
        purchase_id: uuid.UUID | None = None
        if checkout_id is not None:
            purchase = uow.purchases.get_by_checkout(checkout_id)
            if purchase is not None:
                site_id, purchase_id = purchase.site_id, purchase.id
            else:
                sub = uow.subscriptions.get_by_checkout(checkout_id)
                site_id = sub.site_id if sub is not None else None
        if site_id is None and payment_id is not None:
            paid = uow.subscriptions.get_payment(payment_id)
            sub = uow.subscriptions.get(paid.subscription_id) if paid is not None else None
            site_id = sub.site_id if sub is not None else None
        site = uow.sites.get(site_id) if site_id is not None else None
        dispute = event.kind is MoneyReturnedKind.DISPUTE
        kind = AnomalyKind.DISPUTE if dispute else AnomalyKind.REFUND
        amount = event.amount
        what = f"payment {payment_id or 'unknown'}" + (f" ({amount} cents)" if amount else "")
        where = f"site {site.slug}" if site is not None else "no site we could link"
        summary = f"{event.label}: {what}, {where}"
        details = f"The provider sent {event.label} for {what}, on {where}.\n" + (
            "A chargeback: the site's payment may be taken back. Answer the dispute at the "
            "provider, decide whether the site stays online (archive it otherwise), then "
            "resolve this anomaly."
            if dispute
            else "Money was given back. Check it was meant to be (a refund due, an operator's "
            "decision), then resolve this anomaly."
        )
        self.anomalies.report(
            uow,
            Anomaly.new(
                kind,
                f"{kind.value}:{context.webhook_event_id or context.reference}",
                summary,
                details,
                context.now,
                site_id=site_id,
                purchase_id=purchase_id,
                webhook_event_id=context.webhook_event_id,
            ),
            context.now,
            site_slug=site.slug if site is not None else None,
            reference=context.reference,
        )
        return Handled(WebhookOutcome.ANOMALY, note=summary, site_id=site_id, purchase_id=purchase_id)

    # internals

    def _parse(self, body: bytes) -> tuple[str, Parsed]:
        """The body as text to store and the event it is (``UnreadableWebhook``: refused,
        nothing stored)."""
        try:
            parsed: Parsed = self.translator.translate(body)
        except MalformedEvent as malformed:
            parsed = malformed
        return body.decode("utf-8-sig"), parsed

    @staticmethod
    def _context(event_id: str, now: dt.datetime) -> EventContext:
        return EventContext(reference=event_id, actor=Actor.WEBHOOK, now=now, webhook_event_id=event_id)

    def _receive(self, message_id: str, text: str, parsed: Parsed) -> WebhookOutcome:
        handler = None if isinstance(parsed, MalformedEvent) else self.route(parsed)
        # Only the subscriptions' handler reads the provider beforehand: a duplicate is not
        # read again. Any other duplicate is caught by the insert below, one read fewer.
        if handler is self.subscriptions and self._stored(message_id):
            return WebhookOutcome.DUPLICATE
        prefetched = self._prefetch(parsed)
        now = self.clock.now()
        with self.uow() as uow:
            record = WebhookEvent(id=message_id, event_type=parsed.label, body=text, received_at=now)
            try:
                uow.webhook_events.add(record)
            except Conflict:
                return WebhookOutcome.DUPLICATE  # leaving without commit rolls back
            context = attrs.evolve(self._context(message_id, now), prefetched=prefetched)
            handled = self._process(uow, record, parsed, context, new=True)
            uow.commit()
        run_after_commit(handled)
        return handled.outcome

    def _prefetch(self, parsed: Parsed) -> object | None:
        if isinstance(parsed, MalformedEvent):
            return None
        handler = self.route(parsed)
        return handler.prefetch(parsed) if handler is not None else None

    def _process(
        self, uow: UnitOfWork, record: WebhookEvent, parsed: Parsed, context: EventContext, *, new: bool
    ) -> Handled:
        if isinstance(parsed, MalformedEvent):
            return self._anomaly(
                uow,
                record,
                context,
                AnomalyKind.MALFORMED_EVENT,
                f"webhook {record.id} ({parsed.label or 'no type'}) is malformed",
                parsed,
            )
        try:
            handled = self.dispatch(uow, parsed, context)
        except TransientError:
            raise
        except Conflict as error:
            if not isinstance(error, InvalidTransition):
                raise
            failure: WebMagicError = error
        except WebMagicError as error:
            failure = error
        else:
            note = handled.note if handled.outcome is not WebhookOutcome.PROCESSED else None
            record.record(
                handled.outcome,
                context.now,
                error=note,
                site_id=handled.site_id,
                purchase_id=handled.purchase_id,
            )
            uow.webhook_events.save(record)
            return handled
        # A rule broke half-way: drop the partial changes, keep the event and say so.
        uow.rollback()
        if new:
            uow.webhook_events.add(record)
        return self._anomaly(
            uow,
            record,
            context,
            AnomalyKind.PROCESSING_ERROR,
            f"webhook {record.id} ({record.event_type}) could not be applied",
            failure,
        )

    def _anomaly(
        self,
        uow: UnitOfWork,
        record: WebhookEvent,
        context: EventContext,
        kind: AnomalyKind,
        summary: str,
        error: WebMagicError,
    ) -> Handled:
        details = (
            f"{error.detail}\n\nThe body is kept as webhook event {record.id}; "
            f"after fixing the cause, apply it with: webmagic webhooks replay {record.id}"
        )
        self.anomalies.report(
            uow,
            Anomaly.new(
                kind, f"{kind.value}:{record.id}", summary, details, context.now, webhook_event_id=record.id
            ),
            context.now,
            reference=record.id,
        )
        record.record(WebhookOutcome.ANOMALY, context.now, error=error.detail)
        uow.webhook_events.save(record)
        return Handled(WebhookOutcome.ANOMALY, note=error.detail)

    def _stored(self, event_id: str) -> bool:
        with self.uow() as uow:
            return uow.webhook_events.get(event_id) is not None


def _announce_webhook(
    message_id: str, event_type: str | None, outcome: str, detail: str | None = None
) -> None:
    """One line per delivery received (after its outcome is committed), by outcome."""
    events.emit(
        "webhook.received",
        f"webhook {message_id} ({event_type or 'no type'}): {outcome}" + (f": {detail}" if detail else ""),
        level=logging.WARNING if outcome in ("retry_later", "anomaly") else logging.INFO,
        webhook_event_id=message_id,
        event_type=event_type,
        outcome=outcome,
    )
