"""Sites are folders: a version is a set of files whose bodies are stored once by digest.

Every existing version's three columns become files (``index.html``; ``styles.css`` and
``app.js`` when not empty), with what each is served as under ``/{slug}`` and at a domain
root computed now, by the same rewriter that new versions go through, so what hosting
serves does not change. Downgrading puts the three columns back from the files (other
files of a version are lost there: the old schema cannot hold them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from webmagic_adapters.site_rewriter import ParserSiteRewriter
from webmagic_core.site_files import FileLimits, SiteFiles, prepare_files

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

# Old versions were checked against their own limits when written; take them as they are.
_NO_LIMITS = FileLimits(max_file_bytes=2**40, max_version_bytes=2**40, max_files=2**20)
_BATCH = 200


def _path_type() -> Any:
    return sa.String(255).with_variant(postgresql.VARCHAR(255, collation="C"), "postgresql")


_blobs = sa.table(
    "blobs",
    sa.column("digest", sa.String),
    sa.column("size", sa.BigInteger),
    sa.column("data", sa.LargeBinary),
)
_files = sa.table(
    "site_version_files",
    sa.column("site_id", sa.Uuid),
    sa.column("number", sa.Integer),
    sa.column("path", sa.String),
    sa.column("digest", sa.String),
    sa.column("size", sa.BigInteger),
    sa.column("content_type", sa.String),
    sa.column("slug_digest", sa.String),
    sa.column("root_digest", sa.String),
)
_sites = sa.table("sites", sa.column("id", sa.Uuid), sa.column("slug", sa.String))


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_blobs"),
    )
    op.create_table(
        "site_version_files",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("path", _path_type(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("slug_digest", sa.String(64), nullable=False),
        sa.Column("root_digest", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id", "number"],
            ["site_versions.site_id", "site_versions.number"],
            name="fk_site_version_files_site_id_site_versions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["digest"], ["blobs.digest"], name="fk_site_version_files_digest_blobs"),
        sa.ForeignKeyConstraint(
            ["slug_digest"], ["blobs.digest"], name="fk_site_version_files_slug_digest_blobs"
        ),
        sa.ForeignKeyConstraint(
            ["root_digest"], ["blobs.digest"], name="fk_site_version_files_root_digest_blobs"
        ),
        sa.PrimaryKeyConstraint("site_id", "number", "path", name="pk_site_version_files"),
    )
    for column in ("digest", "slug_digest", "root_digest"):
        op.create_index(f"ix_site_version_files_{column}", "site_version_files", [column])

    _move_versions_into_files()

    with op.batch_alter_table("site_versions") as batch:
        batch.drop_column("html")
        batch.drop_column("css")
        batch.drop_column("js")


def _move_versions_into_files() -> None:
    bind = op.get_bind()
    rewriter = ParserSiteRewriter()
    versions = sa.table(
        "site_versions",
        sa.column("site_id", sa.Uuid),
        sa.column("number", sa.Integer),
        sa.column("html", sa.Text),
        sa.column("css", sa.Text),
        sa.column("js", sa.Text),
    )
    slugs = {row.id: row.slug for row in bind.execute(sa.select(_sites.c.id, _sites.c.slug))}
    stored: set[str] = set()
    # Keys first, bodies a batch at a time: a large database is never all in memory.
    keys = bind.execute(sa.select(versions.c.site_id, versions.c.number)).all()
    for start in range(0, len(keys), _BATCH):
        blob_rows: dict[str, bytes] = {}
        file_rows: list[dict[str, Any]] = []
        batch = keys[start : start + _BATCH]
        wanted = sa.tuple_(versions.c.site_id, versions.c.number).in_([tuple(key) for key in batch])
        for row in bind.execute(sa.select(versions).where(wanted)).all():
            bodies = {"index.html": row.html.encode()}
            if row.css:
                bodies["styles.css"] = row.css.encode()
            if row.js:
                bodies["app.js"] = row.js.encode()
            files = SiteFiles.build(bodies, _NO_LIMITS)
            under_slug = rewriter.rewrite(files, f"/{slugs[row.site_id]}")
            at_root = rewriter.rewrite(files, "")
            prepared = prepare_files(files, under_slug, at_root)
            blob_rows.update((d, body) for d, body in prepared.bodies.items() if d not in stored)
            file_rows.extend(
                {
                    "site_id": row.site_id,
                    "number": row.number,
                    "path": file.path,
                    "digest": file.digest,
                    "size": file.size,
                    "content_type": file.content_type,
                    "slug_digest": file.slug_digest,
                    "root_digest": file.root_digest,
                }
                for file in prepared.files
            )
        if blob_rows:
            bind.execute(
                sa.insert(_blobs),
                [{"digest": d, "size": len(data), "data": data} for d, data in blob_rows.items()],
            )
            stored.update(blob_rows)
        if file_rows:
            bind.execute(sa.insert(_files), file_rows)


def downgrade() -> None:
    with op.batch_alter_table("site_versions") as batch:
        batch.add_column(sa.Column("html", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("css", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("js", sa.Text(), nullable=False, server_default=""))
    bind = op.get_bind()
    versions = sa.table(
        "site_versions",
        sa.column("site_id", sa.Uuid),
        sa.column("number", sa.Integer),
        sa.column("html", sa.Text),
        sa.column("css", sa.Text),
        sa.column("js", sa.Text),
    )
    columns = {"index.html": "html", "styles.css": "css", "app.js": "js"}
    query = (
        sa.select(_files.c.site_id, _files.c.number, _files.c.path, _blobs.c.data)
        .join(_blobs, _blobs.c.digest == _files.c.digest)
        .where(_files.c.path.in_(list(columns)))
    )
    for row in bind.execute(query).all():
        bind.execute(
            sa.update(versions)
            .where(versions.c.site_id == row.site_id, versions.c.number == row.number)
            .values({columns[row.path]: bytes(row.data).decode("utf-8")})
        )
    with op.batch_alter_table("site_versions") as batch:
        for name in ("html", "css", "js"):
            batch.alter_column(name, server_default=None)
    for column in ("digest", "slug_digest", "root_digest"):
        op.drop_index(f"ix_site_version_files_{column}", table_name="site_version_files")
    op.drop_table("site_version_files")
    op.drop_table("blobs")
