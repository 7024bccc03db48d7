"""Recording anomalies (once per problem, with a mail to the operators) and listing them."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence

import attrs

from webmagic_core import events
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.errors import NotFound
from webmagic_core.outbox import OutboxMessage
from webmagic_core.payments.anomalies import Anomaly, AnomalyKind
from webmagic_core.ports import Clock, UnitOfWork, UnitOfWorkFactory
from webmagic_core.services.accounts import basic_normalize_email
from webmagic_core.services.outbox import queue_email

log = logging.getLogger(__name__)


def _admin_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return basic_normalize_email(value)


@attrs.define
class AnomalyReporter:
    """Adds an anomaly to a unit of work, and an alert for ``admin_email`` to its outbox."""

    admin_email: str | None = attrs.field(default=None, converter=_admin_email)

    def report(
        self,
        uow: UnitOfWork,
        anomaly: Anomaly,
        now: dt.datetime,
        *,
        site_slug: str | None = None,
        reference: str | None = None,
    ) -> Anomaly:
        """Record ``anomaly`` unless one with its key exists (then return that one and
        mail nobody again): a replayed or re-delivered event is the same problem. Once that
        one is resolved, the same problem brought by another event is recorded (and
        mailed) again. The caller commits."""
        existing = uow.anomalies.get_by_key(anomaly.key)
        if (
            existing is not None
            and not existing.is_open
            and anomaly.webhook_event_id != existing.webhook_event_id
        ):
            # Resolved, and this is another event: a new occurrence, not the one handled.
            occurrence = anomaly.webhook_event_id or anomaly.created_at.isoformat()
            anomaly = attrs.evolve(anomaly, key=f"{anomaly.key}@{occurrence}")
            existing = uow.anomalies.get_by_key(anomaly.key)
        if existing is not None:
            return existing
        uow.anomalies.add(anomaly)
        # Only once it is recorded: a rolled-back webhook is retried and reports it again.
        uow.after_commit(
            lambda: events.emit(
                "anomaly.recorded",
                f"payment anomaly ({anomaly.kind.value}): {anomaly.summary}",
                level=logging.WARNING,
                anomaly_id=anomaly.id,
                kind=anomaly.kind.value,
                site_id=anomaly.site_id,
                purchase_id=anomaly.purchase_id,
                webhook_event_id=anomaly.webhook_event_id,
            )
        )
        if self.admin_email is not None:
            queue_email(
                uow,
                EmailTemplate.ANOMALY_ALERT,
                self.admin_email,
                {
                    "summary": anomaly.summary,
                    "details": anomaly.details,
                    "site_slug": site_slug,
                    "reference": reference,
                },
                now,
                site_id=anomaly.site_id,
            )
        return anomaly

    def outbox_dying(self, uow: UnitOfWork, dead: OutboxMessage, now: dt.datetime) -> None:
        """``OutboxRelay.on_dead``: the first message given up on a day is an anomaly (and
        an alert to the operators); the others that day only add to the count they see in
        ``webmagic outbox list --dead``."""
        kind = AnomalyKind.OUTBOX_DEAD
        # A message dies unrendered (mail is rendered when sent): then its template says what it is.
        subject = dead.message.subject
        what = repr(subject) if subject else f"template {dead.message.template.value}, not rendered"
        self.report(
            uow,
            Anomaly.new(
                kind,
                f"{kind.value}:{now.date().isoformat()}",
                f"emails are being given up: {dead.message.template.value} to {dead.message.to} is dead",
                f"Message {dead.id} ({what}) failed {dead.attempts} time(s): "
                f"{dead.last_error or 'no error recorded'}.\n"
                "See `webmagic outbox list --dead`; once the cause is fixed, "
                "`webmagic outbox retry --all-dead` sends them again. Then resolve this anomaly.",
                now,
                site_id=dead.message.site_id,
            ),
            now,
        )


@attrs.define
class AnomalyService:
    uow: UnitOfWorkFactory
    clock: Clock

    def list(self, *, open_only: bool = True, limit: int = 100) -> Sequence[Anomaly]:
        """Newest first; by default only those not yet resolved."""
        with self.uow() as uow:
            return uow.anomalies.list(open_only=open_only, limit=limit)

    def get(self, anomaly_id: uuid.UUID) -> Anomaly:
        with self.uow() as uow:
            anomaly = uow.anomalies.get(anomaly_id)
        if anomaly is None:
            raise NotFound(f"no anomaly has the id {anomaly_id}")
        return anomaly

    def resolve(self, anomaly_id: uuid.UUID, resolution: str) -> Anomaly:
        """Mark an anomaly handled, saying how (``Conflict`` if it already was)."""
        with self.uow() as uow:
            anomaly = uow.anomalies.get(anomaly_id)
            if anomaly is None:
                raise NotFound(f"no anomaly has the id {anomaly_id}")
            anomaly.resolve(self.clock.now(), resolution)
            uow.anomalies.save(anomaly)
            uow.commit()
        return anomaly
