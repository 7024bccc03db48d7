"""The unit of work: one connection, one transaction, rolled back unless committed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from webmagic_adapters.body_cipher import BodyCipher
from webmagic_adapters.sqlalchemy.accounts_repositories import (
    SqlAlchemyCustomerRepository,
    SqlAlchemyRefreshSessionRepository,
)
from webmagic_adapters.sqlalchemy.errors import is_transient, transient_error, translating_errors
from webmagic_adapters.sqlalchemy.outbox_repository import SqlAlchemyOutboxRepository
from webmagic_adapters.sqlalchemy.payments_repositories import (
    SqlAlchemyAnomalyRepository,
    SqlAlchemyPurchaseRepository,
    SqlAlchemyWebhookEventRepository,
)
from webmagic_adapters.sqlalchemy.publish_queue import SqlAlchemyPublishQueue
from webmagic_adapters.sqlalchemy.repositories import (
    SQLITE_BEGIN_OPTION,
    SQLITE_WRITE_GATE,
    WriteGate,
)
from webmagic_adapters.sqlalchemy.sites_repository import SqlAlchemySiteRepository
from webmagic_adapters.sqlalchemy.subscriptions_repositories import (
    SqlAlchemyNoticeRepository,
    SqlAlchemySubscriptionRepository,
)
from webmagic_core.commit_hooks import Doorbell, run_after_commit
from webmagic_core.ports import SiteRepository
from webmagic_core.sites import announce_site_events

log = logging.getLogger(__name__)


class SqlAlchemyUnitOfWork:
    """``with uow: ...; uow.commit()``. The connection is checked out on entry and the
    transaction starts with the first statement ("commit as you go"). On SQLite the
    first write (or ``for_update`` read) takes the write lock; see
    ``repositories.begin_for_write``. With ``write_lock`` (the database's, one per
    process and file), units of work of this process queue for that lock on it rather
    than in SQLite's busy handler (``repositories.WriteGate``); each transaction that
    ends releases it and the next one starts DEFERRED again."""

    # Typed as the port: the protocol's attribute is mutable, hence invariant.
    sites: SiteRepository

    def __init__(
        self,
        engine: Engine,
        *,
        write_lock: threading.Lock | None = None,
        lock_timeout: float = 5.0,
        cipher: BodyCipher | None = None,
        publishing: Doorbell | None = None,
    ) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._gate = WriteGate(write_lock, lock_timeout) if write_lock is not None else None
        self._after_commit: list[Callable[[], None]] = []
        self.sites = SqlAlchemySiteRepository(
            self.connection, on_events=lambda events: self.after_commit(lambda: announce_site_events(events))
        )
        self._customers = SqlAlchemyCustomerRepository(self.connection)
        self._refresh_sessions = SqlAlchemyRefreshSessionRepository(self.connection)
        self._outbox = SqlAlchemyOutboxRepository(self.connection, cipher or BodyCipher(()))
        self._purchases = SqlAlchemyPurchaseRepository(self.connection)
        self._webhook_events = SqlAlchemyWebhookEventRepository(self.connection)
        self._anomalies = SqlAlchemyAnomalyRepository(self.connection)
        self._subscriptions = SqlAlchemySubscriptionRepository(self.connection)
        self._notices = SqlAlchemyNoticeRepository(self.connection)
        # Publish requests are written only with static publishing on; each one rings
        # the doorbell once the transaction has committed (the worker wakes at once).
        self._publish_queue = SqlAlchemyPublishQueue(
            self.connection,
            enabled=publishing is not None,
            on_request=(lambda: self.after_commit(publishing.ring)) if publishing is not None else None,
        )

    @property
    def customers(self) -> SqlAlchemyCustomerRepository:
        return self._customers

    @property
    def refresh_sessions(self) -> SqlAlchemyRefreshSessionRepository:
        return self._refresh_sessions

    @property
    def outbox(self) -> SqlAlchemyOutboxRepository:
        return self._outbox

    @property
    def purchases(self) -> SqlAlchemyPurchaseRepository:
        return self._purchases

    @property
    def webhook_events(self) -> SqlAlchemyWebhookEventRepository:
        return self._webhook_events

    @property
    def anomalies(self) -> SqlAlchemyAnomalyRepository:
        return self._anomalies

    @property
    def subscriptions(self) -> SqlAlchemySubscriptionRepository:
        return self._subscriptions

    @property
    def notices(self) -> SqlAlchemyNoticeRepository:
        return self._notices

    @property
    def publish_queue(self) -> SqlAlchemyPublishQueue:
        return self._publish_queue

    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its 'with' block")
        return self._connection

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("the unit of work is already open")
        with translating_errors():
            self._connection = self._engine.connect()
        if self._gate is not None:
            self._connection.info[SQLITE_WRITE_GATE] = self._gate
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        self._after_commit = []
        if connection is None:
            return
        try:
            if connection.in_transaction():
                connection.rollback()
        except sa_exc.DBAPIError as error:
            # Never hide the exception that left the block behind a failed rollback.
            if exc is not None:
                log.warning("rollback failed after an error: %s", error.__class__.__name__)
            elif is_transient(error):
                raise transient_error(error) from error
            else:
                raise
        finally:
            try:
                self._transaction_ended(connection)
                connection.info.pop(SQLITE_WRITE_GATE, None)
            finally:
                connection.close()

    def commit(self) -> None:
        connection = self.connection()
        callbacks, self._after_commit = self._after_commit, []
        try:
            with translating_errors():
                connection.commit()
        finally:
            self._transaction_ended(connection)
        run_after_commit(callbacks)

    def rollback(self) -> None:
        connection = self.connection()
        self._after_commit = []
        try:
            with translating_errors():
                connection.rollback()
        finally:
            self._transaction_ended(connection)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def _transaction_ended(self, connection: Connection) -> None:
        if self._gate is not None and self._gate.held:
            self._gate.release()
            # The next transaction of this unit of work begins DEFERRED, and takes the
            # gate again through begin_for_write when it writes.
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
