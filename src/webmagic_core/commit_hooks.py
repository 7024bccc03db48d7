"""Callbacks a unit of work runs once its transaction has committed (see
``UnitOfWork.after_commit``): shared by the SQL unit of work and the fake."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)


def run_after_commit(callbacks: Iterable[Callable[[], None]]) -> None:
    """Run each callback; one that fails is logged and the rest still run (the
    transaction is committed whatever they do)."""
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("an after-commit callback failed")


class Doorbell:
    """Wakes whoever waits for work that a commit created (the publishing worker, when a
    change of this process asked for a site to be published): callbacks run from the
    committing thread, so they must only hand the news over (an event's ``set``)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Add ``callback``; returns the function that removes it."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def ring(self) -> None:
        for callback in list(self._listeners):
            callback()
