"""Mail is queued as its template and data, and rendered by the relay when it is sent.

- ``outbox_messages.data``: the template's data (JSON, sealed like the bodies: it holds
  single-use links), NULL once sent. A message queued with data has an empty subject, text
  and html until the relay renders it; the columns stay NOT NULL. Messages queued before
  this revision have no data and keep their rendered bodies: they are sent as they are.
- Down: refused while an unsent message has data (the code of 0015 would send it with empty
  bodies); send them first (``webmagic outbox relay --once``) or delete them.
- The same holds for a relay of the previous release still running after the upgrade: it
  would send such a message empty. Stop those relays first (docs/operations.md, Upgrades).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("data", sa.Text(), nullable=True))


def downgrade() -> None:
    outbox = sa.table("outbox_messages", sa.column("data"), sa.column("status"))
    waiting = op.get_bind().execute(
        sa.select(sa.func.count())
        .select_from(outbox)
        .where(outbox.c.data.is_not(None), outbox.c.status != "sent")
    )
    count = waiting.scalar_one()
    if count:
        raise RuntimeError(
            f"{count} queued message(s) are not rendered yet and revision 0015 cannot send them: "
            "send them first (webmagic outbox relay --once), or delete them, then downgrade"
        )
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("data")
