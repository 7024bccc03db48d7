"""Table definitions (SQLAlchemy Core). Rows stay separate from the core's attrs entities;
the repositories translate between the two.

The Alembic migrations in ``webmagic_adapters/migrations`` create these tables; keep the
two in step (``tests/contract/test_migrations.py`` compares them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
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

# Accounts. Emails are stored normalised (trimmed, lower-case) by the service; the
# repository compares them exactly, so the unique constraint is the whole rule.
customer_users = Table(
    "customer_users",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("password_hash", Text, nullable=True),  # None until a purchase's owner sets one
    Column("full_name", String(200), nullable=True),
    Column("phone", Text, nullable=True),
    Column("email_verified_at", UTCDateTime(), nullable=True),
    Column("token_version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("email"),
)

refresh_sessions = Table(
    "refresh_sessions",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("family_id", Uuid(), nullable=False),
    Column("customer_id", Uuid(), ForeignKey("customer_users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False),  # SHA-256 hex of the token; the token is never stored
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    UniqueConstraint("token_hash"),
    Index("ix_refresh_sessions_family_id", "family_id"),
    Index("ix_refresh_sessions_customer_id", "customer_id"),
)


def _sequence_type() -> Any:
    # 64-bit on PostgreSQL; SQLite's INTEGER PRIMARY KEY (the rowid) is 64-bit already and
    # only autoincrements under that exact type name.
    return BigInteger().with_variant(Integer(), "sqlite")


# The outbox. ``seq`` keeps insertion order, so messages created at the same instant are
# claimed and listed in the order they were queued; ``id`` is the message's own id.
outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("template", String(50), nullable=False),
    Column("site_id", Uuid(), nullable=True),  # no foreign key: mail outlives what it is about
    Column("headers", JSON(), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    UniqueConstraint("id"),
    # The relay's claim query: status = 'pending' AND next_attempt_at <= now.
    Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_outbox_messages_site_id", "site_id"),
)
