"""Security hardening: sent mail loses its bodies; a row for the readiness write check.

- The bodies of outbox messages already sent are dropped: they held live single-use links.
  From now on the relay drops them as it records a message sent; this revision does the
  same for the messages sent before it. Nothing to undo on the way down (they are gone).
- ``health_checks``: one row that ``/readyz`` updates, so "ready" means the database takes
  a committed write, not only a read.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

# The same texts as webmagic_core.outbox (a migration keeps its own copy: it must not change).
REDACTED_TEXT = "[body removed once sent: it held single-use links]"
REDACTED_HTML = "<p>[body removed once sent: it held single-use links]</p>"


def upgrade() -> None:
    outbox = sa.table("outbox_messages", sa.column("status"), sa.column("text"), sa.column("html"))
    op.execute(
        outbox.update().where(outbox.c.status == "sent").values(text=REDACTED_TEXT, html=REDACTED_HTML)
    )
    health = op.create_table(
        "health_checks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(health, [{"id": 1, "checked_at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}])


def downgrade() -> None:
    op.drop_table("health_checks")
