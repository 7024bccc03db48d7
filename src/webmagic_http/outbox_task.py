"""The in-process outbox relay: a background task of the app (``webmagic serve``).

Every ``interval`` seconds it runs ``OutboxRelay.run_once`` in a worker thread (the relay
talks to the database and to the mail server, both blocking), and at once again while
rounds come back full. A failing round is logged and the loop carries on; on shutdown the
loop stops after the round in progress (a send is never cut off halfway). Several app
processes, or a separate ``webmagic outbox relay`` worker, may run relays at the same time:
the outbox claims each message for one relay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from webmagic_core.services.outbox import RelayReport
from webmagic_http.background import PeriodicTask, periodic_lifespan

log = logging.getLogger(__name__)


class Relay(Protocol):
    """What the task needs of ``OutboxRelay``."""

    @property
    def batch_size(self) -> int: ...

    def run_once(self) -> RelayReport: ...


class BackgroundRelay(PeriodicTask[RelayReport]):
    what = "the outbox relay"

    def __init__(self, relay: Relay, interval: float) -> None:
        super().__init__(relay.run_once, interval, log)
        self.relay = relay

    def handle(self, report: RelayReport) -> bool:
        return report.handled >= self.relay.batch_size  # a full batch: more may be due now


def relay_lifespan(relay: Relay, interval: float) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan hook running ``relay`` in the background while the app is up;
    ``interval`` 0 (``WEBMAGIC_OUTBOX_INTERVAL_SECONDS=0``) runs nothing (a separate
    ``webmagic outbox relay`` process sends the mail)."""
    return periodic_lifespan(
        lambda: BackgroundRelay(relay, interval),
        interval,
        state_name="outbox_relay",
        off_message="the in-process outbox relay is off (WEBMAGIC_OUTBOX_INTERVAL_SECONDS=0)",
    )
