"""Subscriptions: the monthly hosting of a site, its payments, and the reminders sent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-03-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _seq() -> sa.Column[int]:
    # 64-bit on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid).
    return sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        _seq(),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("amount_in_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("checkout_id", sa.Text(), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("current_period_start", _utc(), nullable=True),
        sa.Column("current_period_end", _utc(), nullable=True),
        sa.Column("next_payment_attempt_at", _utc(), nullable=True),
        sa.Column("paid_through", _utc(), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("cancelled_at", _utc(), nullable=True),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("last_synced_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_subscriptions_site_id_sites"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer_users.id"], name="fk_subscriptions_customer_id_customer_users"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_subscriptions"),
        sa.UniqueConstraint("id", name="uq_subscriptions_id"),
        sa.UniqueConstraint("checkout_id", name="uq_subscriptions_checkout_id"),
        sa.UniqueConstraint("provider_id", name="uq_subscriptions_provider_id"),
    )
    op.create_index("ix_subscriptions_site_id", "subscriptions", ["site_id"])
    op.create_index("ix_subscriptions_status_paid_through", "subscriptions", ["status", "paid_through"])
    op.create_index("ix_subscriptions_status_last_synced_at", "subscriptions", ["status", "last_synced_at"])

    op.create_table(
        "subscription_payments",
        _seq(),
        sa.Column(
            "payment_id",
            sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("amount_in_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_at", _utc(), nullable=False),
        sa.Column("period_end", _utc(), nullable=True),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_subscription_payments_subscription_id_subscriptions",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_subscription_payments"),
        sa.UniqueConstraint("payment_id", name="uq_subscription_payments_payment_id"),
    )
    op.create_index("ix_subscription_payments_subscription_id", "subscription_payments", ["subscription_id"])

    op.create_table(
        "notices",
        _seq(),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_notices_site_id_sites"),
        sa.PrimaryKeyConstraint("seq", name="pk_notices"),
        sa.UniqueConstraint("key", name="uq_notices_key"),
    )
    op.create_index("ix_notices_site_id", "notices", ["site_id"])


def downgrade() -> None:
    op.drop_index("ix_notices_site_id", table_name="notices")
    op.drop_table("notices")
    op.drop_index("ix_subscription_payments_subscription_id", table_name="subscription_payments")
    op.drop_table("subscription_payments")
    op.drop_index("ix_subscriptions_status_last_synced_at", table_name="subscriptions")
    op.drop_index("ix_subscriptions_status_paid_through", table_name="subscriptions")
    op.drop_index("ix_subscriptions_site_id", table_name="subscriptions")
    op.drop_table("subscriptions")
