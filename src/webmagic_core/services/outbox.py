"""Queueing transactional email, and the relay that sends it.

Services call ``queue_email`` inside their unit of work, so a message exists exactly when
the change that causes it is committed. It stores the template and its checked data, not
rendered mail: rendering costs CPU that a write transaction (SQLite's one write lock) should
not hold. ``OutboxRelay.run_once`` then claims due messages in one short transaction,
renders and sends them outside any transaction (a slow SMTP server never holds a database
lock), and records each outcome in a transaction of its own. A message that does not
render (a template bug) is dead at once, like a permanent delivery failure. A relay that
dies between claim and outcome leaves the message claimed until its lease passes; then any
relay sends it again (the Mailer port allows a rare duplicate, never a loss).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from webmagic_core import events
from webmagic_core.accounts.emails import EmailTemplate, check_data
from webmagic_core.accounts.errors import MailDeliveryError
from webmagic_core.accounts.ports import EmailRenderer, Mailer
from webmagic_core.errors import Conflict, NotFound
from webmagic_core.outbox import DEFAULT_MAX_ATTEMPTS, RETRY_WINDOW, OutboxMessage, OutboxStatus, backoff
from webmagic_core.ports import Clock, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 500
# user:password@ in URLs (an SMTP URL in an exception message, say) never reaches the table.
_URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def queue_email(
    uow: UnitOfWork,
    template: EmailTemplate,
    to: str,
    data: Mapping[str, object],
    now: dt.datetime,
    *,
    site_id: uuid.UUID | None = None,
) -> OutboxMessage:
    """Add a message to the outbox of ``uow`` (the caller commits), to be rendered from
    ``data`` when the relay sends it. ``data`` is checked now (``EmailDataError``), so a
    mistake fails the caller's transaction, not the send."""
    check_data(template, data)
    item = OutboxMessage.unrendered(template, to, data, now, site_id=site_id)
    uow.outbox.add(item)
    return item


def describe_failure(error: Exception, *, prefix: str = "") -> str:
    """A one-line error text for ``last_error``: credentials in URLs masked, length capped."""
    if isinstance(error, MailDeliveryError):
        text = error.detail
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = prefix + " ".join(_URL_CREDENTIALS.sub(r"\1***@", text).split())
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


@attrs.frozen
class RelayReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.dead

    def __add__(self, other: RelayReport) -> RelayReport:
        return RelayReport(self.sent + other.sent, self.retried + other.retried, self.dead + other.dead)


@attrs.frozen
class _Outcome:
    error: str | None = None
    transient: bool = True
    # The subject the message was sent with (recorded with it once sent).
    subject: str | None = None


def _check_positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, not {value}")


@attrs.define
class OutboxRelay:
    uow: UnitOfWorkFactory
    mailer: Mailer
    clock: Clock
    # Renders queued mail just before it is sent.
    renderer: EmailRenderer
    max_attempts: int = attrs.field(default=DEFAULT_MAX_ATTEMPTS, validator=_check_positive)
    # A transient failure is dead only after max_attempts AND this long since queued.
    retry_window: dt.timedelta = RETRY_WINDOW
    # Called in the transaction that buries a message (the composition root alerts the
    # operators, once a day, through the anomaly reporter).
    on_dead: Callable[[UnitOfWork, OutboxMessage, dt.datetime], None] | None = None
    # Longer than any one send can take (the SMTP adapter's timeout), or a slow send
    # would be claimed again by another relay while still in progress.
    lease: dt.timedelta = dt.timedelta(minutes=5)
    batch_size: int = attrs.field(default=50, validator=_check_positive)
    rng: random.Random | None = None
    # Called before each send. A relay inside a web server passes one that waits (briefly,
    # a bounded time) while requests are being answered: mail can wait a moment, the
    # payment provider's webhook and a visitor's page should not (see webmagic_http.activity).
    # Bounded well under the lease, or a paced batch would outlive its claim.
    pace: Callable[[], None] | None = None

    def run_once(self) -> RelayReport:
        """Claim up to ``batch_size`` due messages, send them, record each outcome."""
        with self.uow() as uow:
            claimed = uow.outbox.claim_due(self.clock.now(), limit=self.batch_size, lease=self.lease)
            uow.commit()
        report = RelayReport()
        for item in claimed:
            if self.pace is not None:
                self.pace()
            report += self._record(item, self._send(item))
        return report

    def drain(self, *, max_rounds: int = 100) -> RelayReport:
        """``run_once`` until a round finds less than a full batch (messages retried later
        are not due yet, so this ends)."""
        report = RelayReport()
        for _ in range(max_rounds):
            round_report = self.run_once()
            report += round_report
            if round_report.handled < self.batch_size:
                break
        return report

    def _send(self, item: OutboxMessage) -> _Outcome:
        try:
            message = item.render(self.renderer)
        except Exception as error:
            # A template bug (or data a template no longer takes): no retry renders it
            # better, so it is dead at once, visible in `outbox list --dead` and alerted.
            outcome = _Outcome(describe_failure(error, prefix="cannot render the message: "), transient=False)
            log.error(
                "outbox message %s (%s) to %s: %s",
                item.id,
                item.message.template.value,
                item.message.to,
                outcome.error,
            )
            return outcome
        try:
            self.mailer.send(message)
        except MailDeliveryError as error:
            outcome = _Outcome(describe_failure(error), transient=error.transient)
            # One line per failed attempt; describe_failure masks credentials in URLs.
            log.warning(
                "sending outbox message %s to %s failed (attempt %d, %s): %s",
                item.id,
                item.message.to,
                item.attempts + 1,
                "will retry" if error.transient else "permanent",
                outcome.error,
            )
            return outcome
        except Exception as error:
            # An adapter bug or an unexpected network error: retried like a transient
            # failure, so it ends up dead (and visible) rather than silently lost. One
            # masked line, no traceback: the exception's text may hold a URL's password.
            outcome = _Outcome(describe_failure(error), transient=True)
            log.error(
                "unexpected error sending outbox message %s to %s (attempt %d, will retry): %s",
                item.id,
                item.message.to,
                item.attempts + 1,
                outcome.error,
            )
            return outcome
        return _Outcome(subject=message.subject)

    def _record(self, claimed: OutboxMessage, outcome: _Outcome) -> RelayReport:
        now = self.clock.now()
        with self.uow() as uow:
            # Locked: read and written in one transaction (on SQLite, one write lock taken
            # once rather than a read transaction and then a write one).
            item = uow.outbox.get(claimed.id, for_update=True)
            if item is None or item.status is not OutboxStatus.PENDING:
                # Requeued, sent or buried meanwhile (our lease ran out): nothing to record.
                return RelayReport()
            if outcome.error is None:
                # Recorded even if another relay re-claimed it after our lease ran out: it is sent.
                item.attempts += 1
                item.mark_sent(now, subject=outcome.subject)
                result = RelayReport(sent=1)
            elif item.claimed_until != claimed.claimed_until:
                # Another relay holds it now; its outcome is the one to keep.
                return RelayReport()
            else:
                item.attempts += 1
                item.last_error, item.claimed_until = outcome.error, None
                exhausted = item.attempts >= self.max_attempts and now - item.created_at >= self.retry_window
                if not outcome.transient or exhausted:
                    item.status = OutboxStatus.DEAD
                    result = RelayReport(dead=1)
                    if self.on_dead is not None:
                        self.on_dead(uow, item, now)
                    log.warning(
                        "outbox message %s to %s is dead after %d attempt(s): %s",
                        item.id,
                        item.message.to,
                        item.attempts,
                        outcome.error,
                    )
                else:
                    item.next_attempt_at = now + backoff(item.attempts, rng=self.rng)
                    result = RelayReport(retried=1)
            uow.after_commit(functools.partial(_announce, item, result))
            uow.outbox.save(item)
            uow.commit()
        return result

    def requeue(self, message_id: uuid.UUID) -> OutboxMessage:
        """Give a dead message a fresh set of attempts, due now."""
        with self.uow() as uow:
            item = uow.outbox.get(message_id)
            if item is None:
                raise NotFound(f"no outbox message has the id {message_id}")
            if item.status is not OutboxStatus.DEAD:
                raise Conflict(
                    f"outbox message {message_id} is {item.status.value}; only dead messages can be retried"
                )
            item.status, item.attempts, item.claimed_until = OutboxStatus.PENDING, 0, None
            item.next_attempt_at = self.clock.now()
            uow.outbox.save(item)
            uow.commit()
        return item

    def requeue_all_dead(self, *, limit: int = 10_000) -> int:
        """``requeue`` every dead message (after fixing what killed them); how many."""
        with self.uow() as uow:
            dead = [m.id for m in uow.outbox.list(status=OutboxStatus.DEAD, limit=limit)]
        for message_id in dead:
            self.requeue(message_id)
        return len(dead)

    def get(self, message_id: uuid.UUID) -> OutboxMessage:
        with self.uow() as uow:
            item = uow.outbox.get(message_id)
        if item is None:
            raise NotFound(f"no outbox message has the id {message_id}")
        return item

    def list(self, status: OutboxStatus | None = None, limit: int = 100) -> Sequence[OutboxMessage]:
        """Newest first."""
        with self.uow() as uow:
            return uow.outbox.list(status=status, limit=limit)

    def counts(self) -> dict[OutboxStatus, int]:
        """Messages per status, every status present (zero when none)."""
        with self.uow() as uow:
            found = uow.outbox.count_by_status()
        return {status: found.get(status, 0) for status in OutboxStatus}


def _announce(item: OutboxMessage, result: RelayReport) -> None:
    """The business event of one recorded attempt (ids and template; never the address)."""
    fields: dict[str, Any] = {
        "message_id": item.id,
        "template": item.message.template.value,
        "site_id": item.message.site_id,
        "attempts": item.attempts,
    }
    if result.sent:
        events.emit("email.sent", f"email {item.id} sent", **fields)
    elif result.dead:
        events.emit(
            "email.dead", f"email {item.id} is dead: {item.last_error}", level=logging.WARNING, **fields
        )
    else:
        events.emit(
            "email.failed",
            f"email {item.id} failed, will retry: {item.last_error}",
            level=logging.WARNING,
            next_attempt_at=item.next_attempt_at,
            **fields,
        )
