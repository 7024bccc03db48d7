"""Money safety: the client a purchase hold came from, and free trials in the sandbox.

``purchases.client_key`` (a hash of the buyer's client address, never the address itself)
bounds how many sites one client may hold at once; ``sandbox_checkouts`` keeps the free
trial a monthly checkout was created with, so the sandbox starts billing when it ends.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("purchases") as batch:
        batch.add_column(sa.Column("client_key", sa.String(64), nullable=True))
    with op.batch_alter_table("sandbox_checkouts") as batch:
        batch.add_column(sa.Column("free_trial_interval", sa.String(10), nullable=True))
        batch.add_column(sa.Column("free_trial_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sandbox_checkouts") as batch:
        batch.drop_column("free_trial_count")
        batch.drop_column("free_trial_interval")
    with op.batch_alter_table("purchases") as batch:
        batch.drop_column("client_key")
