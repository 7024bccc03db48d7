"""Rendered pages: each variant of a version's page (with the preview banner, clean),
stored once when the version is written (``webmagic_core.pages``).

The back-fill: the clean variant of every version is its ``index.html`` as served under
``/{slug}`` (already stored; one ``INSERT ... SELECT``). The banner variant needs the
deployment's settings (the price, the public URL): ``webmagic db upgrade`` and
``webmagic serve`` pass their ``PreviewBanner`` in the Alembic config's attributes
(``preview_banner``, and ``progress`` for the CLI's bar), and every current preview is
rendered here. Run without it (the bare ``alembic`` command), the banners are rendered
by the next ``webmagic db upgrade``; until then hosting renders them per request.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from webmagic_adapters.sqlalchemy.rendered_pages import render_banners

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "rendered_pages",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(10), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("render_key", sa.String(64), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["digest"], ["blobs.digest"], name=op.f("fk_rendered_pages_digest_blobs")),
        sa.ForeignKeyConstraint(
            ["site_id", "number"],
            ["site_versions.site_id", "site_versions.number"],
            name=op.f("fk_rendered_pages_site_id_site_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "number", "variant", name=op.f("pk_rendered_pages")),
    )
    op.create_index("ix_rendered_pages_digest", "rendered_pages", ["digest"])
    op.execute(
        "INSERT INTO rendered_pages (site_id, number, variant, digest, render_key)"
        " SELECT site_id, number, 'clean', slug_digest, '' FROM site_version_files"
        " WHERE path = 'index.html'"
    )
    attributes = context.config.attributes
    banner = attributes.get("preview_banner")
    if banner is not None:
        render_banners(op.get_bind(), banner, progress=attributes.get("progress"))


def downgrade() -> None:
    op.drop_index("ix_rendered_pages_digest", table_name="rendered_pages")
    op.drop_table("rendered_pages")
