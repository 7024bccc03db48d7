"""Customer accounts, their refresh sessions, and the email outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customer_users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("full_name", sa.String(200), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("email_verified_at", _utc(), nullable=True),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_users"),
        sa.UniqueConstraint("email", name="uq_customer_users_email"),
    )

    op.create_table(
        "refresh_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer_users.id"],
            name="fk_refresh_sessions_customer_id_customer_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_sessions_token_hash"),
    )
    op.create_index("ix_refresh_sessions_family_id", "refresh_sessions", ["family_id"])
    op.create_index("ix_refresh_sessions_customer_id", "refresh_sessions", ["customer_id"])

    op.create_table(
        "outbox_messages",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("template", sa.String(50), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("next_attempt_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_until", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox_messages"),
        sa.UniqueConstraint("id", name="uq_outbox_messages_id"),
    )
    op.create_index(
        "ix_outbox_messages_status_next_attempt_at", "outbox_messages", ["status", "next_attempt_at"]
    )
    op.create_index("ix_outbox_messages_site_id", "outbox_messages", ["site_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_site_id", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_status_next_attempt_at", table_name="outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_index("ix_refresh_sessions_customer_id", table_name="refresh_sessions")
    op.drop_index("ix_refresh_sessions_family_id", table_name="refresh_sessions")
    op.drop_table("refresh_sessions")
    op.drop_table("customer_users")
