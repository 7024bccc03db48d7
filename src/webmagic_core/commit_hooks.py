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
