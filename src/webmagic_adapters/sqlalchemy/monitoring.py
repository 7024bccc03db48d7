"""``OperationsQuery`` in one SQL statement (UNION ALL of small aggregates, one snapshot)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import CompoundSelect, String, cast, func, literal, null, select, type_coerce, union_all

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.errors import translating_errors
from webmagic_core.monitoring import OperationsSnapshot
from webmagic_core.outbox import OutboxStatus

_OUTBOX, _OLDEST, _SITES, _SUBSCRIPTIONS, _WEBHOOKS, _ANOMALIES, _EDITS, _DOMAINS = (
    "outbox",
    "oldest",
    "sites",
    "subscriptions",
    "webhooks",
    "anomalies",
    "edits",
    "domains",
)


def _no_time() -> Any:
    # Typed in Python only (no CAST in the SQL): the UNION's column reads back as a UTC datetime.
    return type_coerce(null(), t.UTCDateTime())


def _figures() -> CompoundSelect[Any]:
    outbox, webhooks = t.outbox_messages, t.webhook_events
    no_key = cast(null(), String)
    pending = outbox.c.status == OutboxStatus.PENDING.value
    return union_all(
        select(literal(_OUTBOX), outbox.c.status, func.count(), _no_time()).group_by(outbox.c.status),
        select(literal(_OLDEST), no_key, func.count(), func.min(outbox.c.created_at)).where(pending),
        select(literal(_SITES), t.sites.c.status, func.count(), _no_time()).group_by(t.sites.c.status),
        select(literal(_SUBSCRIPTIONS), t.subscriptions.c.status, func.count(), _no_time()).group_by(
            t.subscriptions.c.status
        ),
        select(literal(_WEBHOOKS), webhooks.c.outcome, func.count(), _no_time()).group_by(webhooks.c.outcome),
        select(literal(_ANOMALIES), no_key, func.count(), _no_time()).where(
            t.anomalies.c.resolved_at.is_(None)
        ),
        select(literal(_EDITS), t.edit_requests.c.status, func.count(), _no_time()).group_by(
            t.edit_requests.c.status
        ),
        select(literal(_DOMAINS), t.custom_domains.c.status, func.count(), _no_time()).group_by(
            t.custom_domains.c.status
        ),
    )


class SqlOperationsQuery:
    """Implements ``OperationsQuery``."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._statement = _figures()

    def snapshot(self) -> OperationsSnapshot:
        groups: dict[str, dict[str, int]] = defaultdict(dict)
        oldest: dt.datetime | None = None
        with translating_errors(), self._database.engine.connect() as connection:
            rows = connection.execute(self._statement).all()
            connection.rollback()
        for figure, key, count, moment in rows:
            if figure == _OLDEST:
                oldest = moment
            elif figure == _WEBHOOKS:
                groups[figure][key or "pending"] = int(count)  # no outcome yet: not processed
            else:
                groups[figure][key or ""] = int(count)
        outbox = groups[_OUTBOX]
        return OperationsSnapshot(
            outbox_pending=outbox.get(OutboxStatus.PENDING.value, 0),
            outbox_dead=outbox.get(OutboxStatus.DEAD.value, 0),
            oldest_pending_since=oldest,
            sites_by_status=dict(groups[_SITES]),
            subscriptions_by_status=dict(groups[_SUBSCRIPTIONS]),
            webhooks_by_outcome=dict(groups[_WEBHOOKS]),
            open_anomalies=groups[_ANOMALIES].get("", 0),
            edits_by_status=dict(groups[_EDITS]),
            domains_by_status=dict(groups[_DOMAINS]),
        )
