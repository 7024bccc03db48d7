"""What operators watch: a snapshot of the queues and states that say whether all is well.

Read by the ``/metrics`` endpoint (Prometheus) and computed by the database in one
statement (``OperationsQuery``), so a scrape is cheap and every figure comes from the same
moment.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import attrs


@attrs.frozen(kw_only=True)
class OperationsSnapshot:
    outbox_pending: int
    outbox_dead: int
    #: When the oldest message still waiting to be sent was queued (None: nothing waits).
    oldest_pending_since: dt.datetime | None
    sites_by_status: dict[str, int]
    subscriptions_by_status: dict[str, int]
    #: Every webhook delivery stored, by outcome ("pending" for one not processed yet).
    webhooks_by_outcome: dict[str, int]
    open_anomalies: int
    #: Owners' change requests by status ("pending": waiting for a draft, "ready": for the owner).
    edits_by_status: dict[str, int] = attrs.field(factory=dict)
    #: Custom domains by status ("failing": lost their DNS proof, in their grace period).
    domains_by_status: dict[str, int] = attrs.field(factory=dict)


class OperationsQuery(Protocol):
    def snapshot(self) -> OperationsSnapshot: ...
