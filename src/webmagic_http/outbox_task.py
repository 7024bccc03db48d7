"""The in-process outbox relay: a background task of the app (``webmagic serve``).

Every ``interval`` seconds it runs ``OutboxRelay.run_once`` in a worker thread (the relay
talks to the database and to the mail server, both blocking), and at once again while
rounds come back full. A failing round is logged and the loop carries on; on shutdown the
loop stops after the round in progress (a send is never cut off halfway). Several app
processes, or a separate ``webmagic outbox relay`` worker, may run relays at the same time:
the outbox claims each message for one relay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any, Protocol

import anyio.to_thread

from webmagic_core.services.outbox import RelayReport

log = logging.getLogger(__name__)


class Relay(Protocol):
    """What the task needs of ``OutboxRelay``."""

    @property
    def batch_size(self) -> int: ...

    def run_once(self) -> RelayReport: ...


class BackgroundRelay:
    def __init__(self, relay: Relay, interval: float) -> None:
        if interval <= 0:
            raise ValueError("the relay interval must be positive")
        self.relay = relay
        self.interval = interval
        self.rounds = 0
        self.failures = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            full = await self._round()
            if full:
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)

    def stop(self) -> None:
        self._stop.set()

    async def _round(self) -> bool:
        """One ``run_once``; True when the batch was full (more may be due right now)."""
        try:
            # Not abandoned on cancellation: a round finishes what it claimed.
            report = await anyio.to_thread.run_sync(self.relay.run_once)
        except Exception:
            self.failures += 1
            log.exception("the outbox relay failed; retrying in %s s", self.interval)
            return False
        finally:
            self.rounds += 1
        return report.handled >= self.relay.batch_size


def relay_lifespan(relay: Relay, interval: float) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan hook running ``relay`` in the background while the app is up;
    ``interval`` 0 (``WEBMAGIC_OUTBOX_INTERVAL_SECONDS=0``) runs nothing (a separate
    ``webmagic outbox relay`` process sends the mail)."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if interval <= 0:
            log.info("the in-process outbox relay is off (WEBMAGIC_OUTBOX_INTERVAL_SECONDS=0)")
            yield
            return
        background = BackgroundRelay(relay, interval)
        app.state.outbox_relay = background
        task = asyncio.create_task(background.run(), name="webmagic-outbox-relay")
        try:
            yield
        finally:
            background.stop()
            await task

    return lifespan
