"""Table definitions (SQLAlchemy Core). Rows stay separate from the core's attrs entities;
the repositories translate between the two.

The Alembic migrations in ``webmagic_adapters/migrations`` create these tables; keep the
two in step (``tests/contract/test_migrations.py`` compares them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects import postgresql


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware datetimes in, UTC-aware datetimes out, on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zone type, so the value is
    stored as naive UTC text and tagged UTC again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store a naive datetime ({value.isoformat()}); pass an aware one")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _slug_type() -> Any:
    # Byte-order collation on PostgreSQL so "ORDER BY slug" sorts like Python's sorted()
    # whatever the database's default collation is (SQLite's BINARY already does).
    return String(63).with_variant(postgresql.VARCHAR(63, collation="C"), "postgresql")


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

sites = Table(
    "sites",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("slug", _slug_type(), nullable=False),
    Column("business_name", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("slug"),
    Index("ix_sites_status", "status"),
)

site_versions = Table(
    "site_versions",
    metadata,
    Column("site_id", Uuid(), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("html", Text, nullable=False),
    Column("css", Text, nullable=False),
    Column("js", Text, nullable=False),
    Column("cause", Text, nullable=False),
    Column("created_by", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

site_events = Table(
    "site_events",
    metadata,
    # ``seq`` keeps insertion order for events recorded at the same instant.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False),
    Column("site_id", Uuid(), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("from_status", String(20), nullable=True),
    Column("to_status", String(20), nullable=False),
    Column("cause", Text, nullable=False),
    Column("actor", String(20), nullable=False),
    Column("reference", Text, nullable=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    UniqueConstraint("id"),
    Index("ix_site_events_site_id_occurred_at", "site_id", "occurred_at"),
)
