"""``FakeOperationsQuery``: the operations figures by iterating the fake store."""

from __future__ import annotations

import attrs

from webmagic_core.monitoring import OperationsSnapshot
from webmagic_core.outbox import OutboxStatus
from webmagic_core.testing.fakes import FakeUnitOfWorkFactory


def _count(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


@attrs.define
class FakeOperationsQuery:
    """Implements ``OperationsQuery`` over a ``FakeUnitOfWorkFactory``'s store."""

    uow: FakeUnitOfWorkFactory

    def snapshot(self) -> OperationsSnapshot:
        store = self.uow.store
        pending = [m for m in store.outbox.values() if m.status is OutboxStatus.PENDING]
        return OperationsSnapshot(
            outbox_pending=len(pending),
            outbox_dead=sum(1 for m in store.outbox.values() if m.status is OutboxStatus.DEAD),
            oldest_pending_since=min((m.created_at for m in pending), default=None),
            sites_by_status=_count([s.status.value for s in store.sites.values()]),
            subscriptions_by_status=_count([s.status.value for s in store.subscriptions.values()]),
            webhooks_by_outcome=_count(
                [e.outcome.value if e.outcome else "pending" for e in store.webhook_events.values()]
            ),
            open_anomalies=sum(1 for a in store.anomalies.values() if a.is_open),
            edits_by_status=_count([e.status.value for e in store.edits.values()]),
        )
