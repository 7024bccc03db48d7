"""Edits: edit requests and their draft files; versions say why they exist.

``site_versions.cause`` held an operator's free words ("created from the CLI",
"published"); they move to ``note``, and ``cause`` becomes one of ``import`` (version 1),
``publish`` (every later version so far), ``edit`` and ``restore``, with the edit or the
version a new one came from.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _path_type() -> Any:
    return sa.String(255).with_variant(postgresql.VARCHAR(255, collation="C"), "postgresql")


def upgrade() -> None:
    # Plain ALTER TABLE on both backends: rebuilding site_versions on SQLite would cascade
    # to its files.
    op.execute("ALTER TABLE site_versions RENAME COLUMN cause TO note")
    op.add_column(
        "site_versions", sa.Column("cause", sa.String(10), nullable=False, server_default="publish")
    )
    op.execute("UPDATE site_versions SET cause = 'import' WHERE number = 1")
    op.add_column("site_versions", sa.Column("edit_id", sa.Uuid(), nullable=True))
    op.add_column("site_versions", sa.Column("restored_from", sa.Integer(), nullable=True))
    op.create_table(
        "edit_requests",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("drafted_at", _utc(), nullable=True),
        sa.Column("drafted_by", sa.String(50), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("claim_id", sa.Uuid(), nullable=True),
        sa.Column("claimed_until", _utc(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_edit_requests_site_id_sites", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer_users.id"], name="fk_edit_requests_customer_id_customer_users"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_edit_requests"),
        sa.UniqueConstraint("id", name="uq_edit_requests_id"),
    )
    op.create_index("ix_edit_requests_site_id_created_at", "edit_requests", ["site_id", "created_at"])
    op.create_index("ix_edit_requests_status_created_at", "edit_requests", ["status", "created_at"])
    op.create_table(
        "edit_draft_files",
        sa.Column("edit_id", sa.Uuid(), nullable=False),
        sa.Column("path", _path_type(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("slug_digest", sa.String(64), nullable=False),
        sa.Column("root_digest", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["edit_id"],
            ["edit_requests.id"],
            name="fk_edit_draft_files_edit_id_edit_requests",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["digest"], ["blobs.digest"], name="fk_edit_draft_files_digest_blobs"),
        sa.ForeignKeyConstraint(
            ["slug_digest"], ["blobs.digest"], name="fk_edit_draft_files_slug_digest_blobs"
        ),
        sa.ForeignKeyConstraint(
            ["root_digest"], ["blobs.digest"], name="fk_edit_draft_files_root_digest_blobs"
        ),
        sa.PrimaryKeyConstraint("edit_id", "path", name="pk_edit_draft_files"),
    )
    for column in ("digest", "slug_digest", "root_digest"):
        op.create_index(f"ix_edit_draft_files_{column}", "edit_draft_files", [column])


def downgrade() -> None:
    for column in ("digest", "slug_digest", "root_digest"):
        op.drop_index(f"ix_edit_draft_files_{column}", table_name="edit_draft_files")
    op.drop_table("edit_draft_files")
    op.drop_index("ix_edit_requests_status_created_at", table_name="edit_requests")
    op.drop_index("ix_edit_requests_site_id_created_at", table_name="edit_requests")
    op.drop_table("edit_requests")
    op.drop_column("site_versions", "restored_from")
    op.drop_column("site_versions", "edit_id")
    op.drop_column("site_versions", "cause")
    op.execute("ALTER TABLE site_versions RENAME COLUMN note TO cause")
