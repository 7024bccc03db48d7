"""Custom domains: one per site, its DNS proof and certificate, and their history.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "custom_domains",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("token", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("verified_at", _utc(), nullable=True),
        sa.Column("last_checked_at", _utc(), nullable=True),
        sa.Column("grace_ends_at", _utc(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("cert_status", sa.String(20), nullable=False),
        sa.Column("cert_not_after", _utc(), nullable=True),
        sa.Column("cert_checked_at", _utc(), nullable=True),
        sa.Column("cert_fingerprint", sa.String(64), nullable=True),
        sa.Column("cert_expiry_mailed_for", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_custom_domains_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_custom_domains"),
        sa.UniqueConstraint("domain", name="uq_custom_domains_domain"),
        sa.UniqueConstraint("site_id", name="uq_custom_domains_site_id"),
        sa.UniqueConstraint("token", name="uq_custom_domains_token"),
    )
    op.create_index("ix_custom_domains_status", "custom_domains", ["status"])
    op.create_table(
        "domain_events",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_domain_events_site_id_sites"),
        sa.PrimaryKeyConstraint("seq", name="pk_domain_events"),
        sa.UniqueConstraint("id", name="uq_domain_events_id"),
    )
    op.create_index("ix_domain_events_site_id", "domain_events", ["site_id"])
    op.create_index("ix_domain_events_domain", "domain_events", ["domain"])


def downgrade() -> None:
    op.drop_index("ix_domain_events_domain", table_name="domain_events")
    op.drop_index("ix_domain_events_site_id", table_name="domain_events")
    op.drop_table("domain_events")
    op.drop_index("ix_custom_domains_status", table_name="custom_domains")
    op.drop_table("custom_domains")
