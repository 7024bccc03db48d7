"""The sandbox test clock: how far the application's time is moved forward (sandbox only).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_clock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("offset_seconds", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_sandbox_clock_one_row")),
        sa.CheckConstraint("offset_seconds >= 0", name=op.f("ck_sandbox_clock_forward_only")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_clock")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_clock")
