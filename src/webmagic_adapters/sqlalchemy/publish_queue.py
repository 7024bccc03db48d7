"""``PublishQueue`` on SQLAlchemy Core: one row per site, claimed like the outbox.

``request`` is an upsert (``INSERT ... ON CONFLICT DO UPDATE``: a second request for a
site bumps its ``generation`` and makes it due now), written in the caller's transaction.
``claim`` holds due rows for one worker (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the
write lock on SQLite); ``complete`` deletes a row only if no request came meanwhile.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Table, and_, case, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.repositories import SqlAlchemyRepository
from webmagic_core.ports import PublishClaim

_q = t.publish_requests
_INSERTS: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def _unheld(now: dt.datetime) -> object:
    return and_(_q.c.next_attempt_at <= now, or_(_q.c.claimed_until.is_(None), _q.c.claimed_until <= now))


class SqlAlchemyPublishQueue(SqlAlchemyRepository):
    """``enabled=False`` (no ``WEBMAGIC_PUBLISH_DIR``): requests are not written at all;
    ``on_request`` runs in the caller's transaction (the unit of work rings the workers'
    doorbell after commit with it)."""

    def __init__(
        self,
        connection: Callable[[], Connection],
        *,
        enabled: bool = False,
        on_request: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(connection)
        self._enabled = enabled
        self._on_request = on_request

    def request(self, site_id: uuid.UUID, now: dt.datetime) -> None:
        if not self._enabled:
            return
        insert = _INSERTS[self._connection().dialect.name](_q).values(
            site_id=site_id, generation=1, requested_at=now, next_attempt_at=now, attempts=0
        )
        statement = insert.on_conflict_do_update(
            index_elements=[_q.c.site_id],
            set_={
                "generation": _q.c.generation + 1,
                "requested_at": now,
                "next_attempt_at": case((_q.c.next_attempt_at > now, now), else_=_q.c.next_attempt_at),
            },
        )
        self._write(statement)
        if self._on_request is not None:
            self._on_request()

    def claim(self, now: dt.datetime, *, limit: int, lease: dt.timedelta) -> Sequence[PublishClaim]:
        if limit <= 0:
            return []
        self._begin_for_write()
        query = (
            select(_q.c.site_id, _q.c.generation, _q.c.attempts)
            .where(_unheld(now))  # type: ignore[arg-type]
            .order_by(_q.c.requested_at, _q.c.site_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = self._execute(query).all()
        if not rows:
            return []
        self._execute(
            update(_q)
            .where(_q.c.site_id.in_([row.site_id for row in rows]))
            .values(claimed_until=now + lease)
        )
        return [PublishClaim(row.site_id, row.generation, row.attempts) for row in rows]

    def complete(self, claim: PublishClaim) -> bool:
        gone = self._write(
            delete(_q).where(_q.c.site_id == claim.site_id, _q.c.generation == claim.generation)
        ).rowcount
        if gone:
            return True
        # A request came while the site was written: due again at once.
        self._execute(update(_q).where(_q.c.site_id == claim.site_id).values(claimed_until=None, attempts=0))
        return False

    def fail(self, claim: PublishClaim, error: str, retry_at: dt.datetime) -> None:
        same = _q.c.generation == claim.generation
        self._write(
            update(_q)
            .where(_q.c.site_id == claim.site_id)
            .values(
                claimed_until=None,
                last_error=error,
                attempts=case((same, _q.c.attempts + 1), else_=_q.c.attempts),
                next_attempt_at=case((same, retry_at), else_=_q.c.next_attempt_at),
            )
        )

    def pending(self) -> int:
        return int(self._execute(select(func.count()).select_from(_q)).scalar_one())

    def due(self, now: dt.datetime) -> bool:
        return bool(self._execute(select(exists().where(_unheld(now)))).scalar_one())  # type: ignore[arg-type]
