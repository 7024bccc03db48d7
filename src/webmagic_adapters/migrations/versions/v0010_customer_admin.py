"""Customers for operators: deactivation, login activity, link serials, account history.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

_NEW_CUSTOMER_COLUMNS = (
    "deactivated_at",
    "last_login_at",
    "last_login_address",
    "failed_logins",
    "last_failed_login_at",
    "password_link_serial",
    "verify_link_serial",
)


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTER TABLE ADD/DROP COLUMN on both backends (SQLite 3.35+): rebuilding
    # customer_users on SQLite would cascade to the tables that point at it.
    op.add_column("customer_users", sa.Column("deactivated_at", _utc(), nullable=True))
    op.add_column("customer_users", sa.Column("last_login_at", _utc(), nullable=True))
    op.add_column("customer_users", sa.Column("last_login_address", sa.String(100), nullable=True))
    for counter in ("failed_logins", "password_link_serial", "verify_link_serial"):
        op.add_column(
            "customer_users",
            sa.Column(counter, sa.Integer(), nullable=False, server_default="0"),
        )
    op.add_column("customer_users", sa.Column("last_failed_login_at", _utc(), nullable=True))
    op.create_index("ix_customer_users_created_at", "customer_users", ["created_at"])
    op.create_table(
        "customer_events",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(20), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer_users.id"],
            name="fk_customer_events_customer_id_customer_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_customer_events"),
        sa.UniqueConstraint("id", name="uq_customer_events_id"),
    )
    op.create_index("ix_customer_events_customer_id", "customer_events", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_customer_events_customer_id", table_name="customer_events")
    op.drop_table("customer_events")
    op.drop_index("ix_customer_users_created_at", table_name="customer_users")
    for name in reversed(_NEW_CUSTOMER_COLUMNS):
        op.drop_column("customer_users", name)
