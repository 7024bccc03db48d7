"""Payments: purchases, the webhook log, anomalies, the sandbox gateway's checkouts,
subscriptions and refunds, and who owns a site (sites.owner_id, sites.purchased_at).

Revision ID: 0003
Revises: 0002
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
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
    # SQLite cannot add a foreign key to an existing table: batch mode rebuilds it there
    # (Database.upgrade turns foreign keys off around the copy); PostgreSQL just ALTERs.
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("owner_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("purchased_at", _utc(), nullable=True))
        batch.create_foreign_key("fk_sites_owner_id_customer_users", "customer_users", ["owner_id"], ["id"])
        batch.create_index("ix_sites_owner_id", ["owner_id"])

    op.create_table(
        "purchases",
        _seq(),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount_in_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("buyer_email", sa.String(320), nullable=False),
        sa.Column("buyer_name", sa.String(200), nullable=True),
        sa.Column("buyer_phone", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("checkout_id", sa.Text(), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("checkout_created_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("paid_at", _utc(), nullable=True),
        sa.Column("payment_id", sa.Text(), nullable=True),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_purchases_site_id_sites"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer_users.id"], name="fk_purchases_customer_id_customer_users"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_purchases"),
        sa.UniqueConstraint("id", name="uq_purchases_id"),
        sa.UniqueConstraint("checkout_id", name="uq_purchases_checkout_id"),
    )
    op.create_index("ix_purchases_site_id", "purchases", ["site_id"])
    op.create_index("ix_purchases_status_expires_at", "purchases", ["status", "expires_at"])

    op.create_table(
        "webhook_events",
        _seq(),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("processed_at", _utc(), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("purchase_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_webhook_events"),
        sa.UniqueConstraint("id", name="uq_webhook_events_id"),
    )
    op.create_index("ix_webhook_events_received_at", "webhook_events", ["received_at"])
    op.create_index("ix_webhook_events_site_id", "webhook_events", ["site_id"])

    op.create_table(
        "anomalies",
        _seq(),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("purchase_id", sa.Uuid(), nullable=True),
        sa.Column("webhook_event_id", sa.Text(), nullable=True),
        sa.Column("resolved_at", _utc(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_anomalies"),
        sa.UniqueConstraint("id", name="uq_anomalies_id"),
        sa.UniqueConstraint("key", name="uq_anomalies_key"),
    )
    op.create_index("ix_anomalies_site_id", "anomalies", ["site_id"])

    op.create_table(
        "sandbox_checkouts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("item_name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("amount_in_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("success_url", sa.Text(), nullable=False),
        sa.Column("cancel_url", sa.Text(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("payment_id", sa.Text(), nullable=True),
        sa.Column("paymentable_type", sa.String(30), nullable=True),
        sa.Column("paymentable_id", sa.Text(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("paid_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_checkouts"),
    )
    op.create_table(
        "sandbox_subscriptions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("checkout_id", sa.Text(), nullable=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("current_period_start", _utc(), nullable=True),
        sa.Column("current_period_end", _utc(), nullable=True),
        sa.Column("next_payment_attempt_at", _utc(), nullable=True),
        sa.Column("customer_email", sa.Text(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_subscriptions"),
    )
    op.create_table(
        "sandbox_refunds",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("payment_id", sa.Text(), nullable=False),
        sa.Column("amount_in_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_refunds"),
        sa.UniqueConstraint("payment_id", name="uq_sandbox_refunds_payment_id"),
    )


def downgrade() -> None:
    op.drop_table("sandbox_refunds")
    op.drop_table("sandbox_subscriptions")
    op.drop_table("sandbox_checkouts")
    op.drop_index("ix_anomalies_site_id", table_name="anomalies")
    op.drop_table("anomalies")
    op.drop_index("ix_webhook_events_site_id", table_name="webhook_events")
    op.drop_index("ix_webhook_events_received_at", table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_index("ix_purchases_status_expires_at", table_name="purchases")
    op.drop_index("ix_purchases_site_id", table_name="purchases")
    op.drop_table("purchases")
    with op.batch_alter_table("sites") as batch:
        batch.drop_index("ix_sites_owner_id")
        batch.drop_constraint("fk_sites_owner_id_customer_users", type_="foreignkey")
        batch.drop_column("purchased_at")
        batch.drop_column("owner_id")
