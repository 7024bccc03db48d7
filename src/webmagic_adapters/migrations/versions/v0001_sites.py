"""Sites, their versions and their lifecycle events.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "slug",
            sa.String(63).with_variant(postgresql.VARCHAR(63, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("business_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
        sa.UniqueConstraint("slug", name="uq_sites_slug"),
    )
    op.create_index("ix_sites_status", "sites", ["status"])

    op.create_table(
        "site_versions",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("css", sa.Text(), nullable=False),
        sa.Column("js", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(20), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_site_versions_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "number", name="pk_site_versions"),
    )

    op.create_table(
        "site_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(20), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("occurred_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_site_events_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_site_events"),
        sa.UniqueConstraint("id", name="uq_site_events_id"),
    )
    op.create_index("ix_site_events_site_id_occurred_at", "site_events", ["site_id", "occurred_at"])


def downgrade() -> None:
    op.drop_table("site_events")
    op.drop_table("site_versions")
    op.drop_index("ix_sites_status", table_name="sites")
    op.drop_table("sites")
