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
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    and_,
    bindparam,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql

from webmagic_core.pages import variant_by_status


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
    # The customer who bought the site, and when (revision 0003).
    Column("owner_id", Uuid(), ForeignKey("customer_users.id"), nullable=True),
    Column("purchased_at", UTCDateTime(), nullable=True),
    UniqueConstraint("slug"),
    Index("ix_sites_status", "status"),
    Index("ix_sites_owner_id", "owner_id"),
)

site_versions = Table(
    "site_versions",
    metadata,
    Column("site_id", Uuid(), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    # import | publish | edit | restore (revision 0011; before it, the operator's words,
    # which moved to ``note``).
    Column("cause", String(10), nullable=False, server_default="publish"),
    Column("note", Text, nullable=False),
    Column("created_by", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("edit_id", Uuid(), nullable=True),
    Column("restored_from", Integer, nullable=True),
)


def _path_type() -> Any:
    # Byte-order collation on PostgreSQL, so files list in the same order as on SQLite.
    return String(255).with_variant(postgresql.VARCHAR(255, collation="C"), "postgresql")


# File bodies, stored once by SHA-256 and shared by every version and site (revision 0007).
blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# The files of a version: the uploaded body, and what is served under /{slug} and at a
# domain root (the same digest when nothing was rewritten).
site_version_files = Table(
    "site_version_files",
    metadata,
    Column("site_id", Uuid(), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("path", _path_type(), primary_key=True),
    Column("digest", String(64), ForeignKey("blobs.digest"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("slug_digest", String(64), ForeignKey("blobs.digest"), nullable=False),
    Column("root_digest", String(64), ForeignKey("blobs.digest"), nullable=False),
    ForeignKeyConstraint(
        ["site_id", "number"], ["site_versions.site_id", "site_versions.number"], ondelete="CASCADE"
    ),
    Index("ix_site_version_files_digest", "digest"),
    Index("ix_site_version_files_slug_digest", "slug_digest"),
    Index("ix_site_version_files_root_digest", "root_digest"),
)

# The page a version serves at /{slug}, rendered once per variant when the version is
# written (revision 0013, webmagic_core.pages): ``digest`` names its bytes in ``blobs`` and
# is its ETag; ``render_key`` names the settings a banner was rendered with ("" when the
# variant needs none).
rendered_pages = Table(
    "rendered_pages",
    metadata,
    Column("site_id", Uuid(), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("variant", String(10), primary_key=True),
    Column("digest", String(64), ForeignKey("blobs.digest"), nullable=False),
    Column("render_key", String(64), nullable=False, server_default=""),
    ForeignKeyConstraint(
        ["site_id", "number"], ["site_versions.site_id", "site_versions.number"], ondelete="CASCADE"
    ),
    Index("ix_rendered_pages_digest", "digest"),
)


def _serving_variant() -> Any:
    """The variant a site's status serves, as SQL (NULL for a status serving no page),
    from the core's lifecycle table; the values are enum constants, written literally so
    a statement keeps ``slug`` as its only parameter."""
    whens = " ".join(
        f"WHEN '{status.value}' THEN '{variant.value}'" for status, variant in variant_by_status().items()
    )
    return literal_column(f"CASE sites.status {whens} END")


# What hosting reads per request (the unit of work's and the SiteDirectory's): a site's
# head and the stored page its status serves, in one indexed read.
HEAD_COLUMNS = (
    sites.c.id,
    sites.c.slug,
    sites.c.business_name,
    sites.c.status,
    sites.c.current_version,
    rendered_pages.c.digest,
    rendered_pages.c.render_key,
)
HEAD_BY_SLUG = (
    select(*HEAD_COLUMNS)
    .select_from(
        sites.outerjoin(
            rendered_pages,
            and_(
                rendered_pages.c.site_id == sites.c.id,
                rendered_pages.c.number == sites.c.current_version,
                rendered_pages.c.variant == _serving_variant(),
            ),
        )
    )
    .where(sites.c.slug == bindparam("slug"))
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
    # Operators' controls and login activity (revision 0010).
    Column("deactivated_at", UTCDateTime(), nullable=True),
    Column("last_login_at", UTCDateTime(), nullable=True),
    Column("last_login_address", String(100), nullable=True),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("last_failed_login_at", UTCDateTime(), nullable=True),
    Column("password_link_serial", Integer, nullable=False, server_default="0"),
    Column("verify_link_serial", Integer, nullable=False, server_default="0"),
    UniqueConstraint("email"),
    Index("ix_customer_users_created_at", "created_at"),
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
# ``data`` (revision 0016): the template's data, JSON sealed like the bodies, while the
# message waits to be rendered by the relay; subject, text and html are then empty. NULL
# for mail queued rendered (before 0016) and for sent mail (it held live links).
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
    Column("data", Text, nullable=True),
    UniqueConstraint("id"),
    # The relay's claim query: status = 'pending' AND next_attempt_at <= now.
    Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_outbox_messages_site_id", "site_id"),
)


# Payments (revision 0003). Identifiers that come from the provider (checkout, payment and
# webhook message ids) are Text: a longer id than expected must never turn into a
# database error. Each table keeps insertion order in ``seq``, so rows created at the same
# instant list in the order they were added, as the ports promise; ``id`` is the entity's.
purchases = Table(
    "purchases",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False),
    Column("site_id", Uuid(), ForeignKey("sites.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("amount_in_cents", BigInteger(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("buyer_email", String(320), nullable=False),
    Column("buyer_name", String(200), nullable=True),
    Column("buyer_phone", Text, nullable=True),
    Column("customer_id", Uuid(), ForeignKey("customer_users.id"), nullable=True),
    Column("checkout_id", Text, nullable=True),  # several NULLs are allowed by both backends
    Column("checkout_url", Text, nullable=True),
    Column("checkout_created_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("paid_at", UTCDateTime(), nullable=True),
    Column("payment_id", Text, nullable=True),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("client_key", String(64), nullable=True),  # hash of the client address (0005)
    UniqueConstraint("id"),
    UniqueConstraint("checkout_id"),
    Index("ix_purchases_site_id", "site_id"),
    # Pending purchases past their hold (reconciliation, expiry).
    Index("ix_purchases_status_expires_at", "status", "expires_at"),
)

# Every verified delivery, under the provider's message id (svix-id): the unique
# constraint on ``id`` is the duplicate check. No foreign keys: the log outlives (and may
# name) what it is about.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("processed_at", UTCDateTime(), nullable=True),
    Column("outcome", String(20), nullable=True),
    Column("error", Text, nullable=True),
    Column("site_id", Uuid(), nullable=True),
    Column("purchase_id", Uuid(), nullable=True),
    UniqueConstraint("id"),
    Index("ix_webhook_events_received_at", "received_at"),
    Index("ix_webhook_events_site_id", "site_id"),
)

anomalies = Table(
    "anomalies",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("key", Text, nullable=False),  # one anomaly per problem
    Column("summary", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("site_id", Uuid(), nullable=True),
    Column("purchase_id", Uuid(), nullable=True),
    Column("webhook_event_id", Text, nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("resolution", Text, nullable=True),
    UniqueConstraint("id"),
    UniqueConstraint("key"),
    Index("ix_anomalies_site_id", "site_id"),
)

# The sandbox gateway's own checkouts (``webmagic_adapters.payments.sandbox``), standing
# in for the provider's when no payment keys are configured.
sandbox_checkouts = Table(
    "sandbox_checkouts",
    metadata,
    Column("id", Text, primary_key=True),  # ch_sandbox_...
    Column("kind", String(20), nullable=False),  # CheckoutKind
    Column("item_name", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("amount_in_cents", BigInteger(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("success_url", Text, nullable=False),
    Column("cancel_url", Text, nullable=False),
    Column("metadata", JSON(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("status", String(30), nullable=False),  # CheckoutStatus: unpaid | paid | payment_in_progress
    Column("payment_id", Text, nullable=True),
    Column("paymentable_type", String(30), nullable=True),
    Column("paymentable_id", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("paid_at", UTCDateTime(), nullable=True),
    Column("free_trial_interval", String(10), nullable=True),  # week | month (0005)
    Column("free_trial_count", Integer(), nullable=True),
)

# The sandbox gateway's subscriptions (a paid monthly sandbox checkout starts one) and
# refunds (one per payment), revision 0003.
sandbox_subscriptions = Table(
    "sandbox_subscriptions",
    metadata,
    Column("id", Text, primary_key=True),  # su_sandbox_...
    Column("checkout_id", Text, nullable=True),
    Column("status", String(30), nullable=False),  # SubscriptionStatus
    Column("current_period_start", UTCDateTime(), nullable=True),
    Column("current_period_end", UTCDateTime(), nullable=True),
    Column("next_payment_attempt_at", UTCDateTime(), nullable=True),
    Column("customer_email", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

sandbox_refunds = Table(
    "sandbox_refunds",
    metadata,
    Column("id", Text, primary_key=True),  # re_sandbox_...
    Column("payment_id", Text, nullable=False),
    Column("amount_in_cents", BigInteger(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("payment_id"),  # a payment is refunded once
)


def _byte_ordered_text() -> Any:
    # Byte-order collation on PostgreSQL so "ORDER BY payment_id" breaks ties the way
    # Python compares strings (the fakes' order), whatever the database's collation.
    return Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")


# Subscriptions (revision 0004): the monthly hosting of a site, mirroring the provider's
# subscription (``webmagic_core.payments.subscriptions``). Rows are never deleted; the
# checkout and provider ids are unique where set (both backends allow several NULLs).
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False),
    Column("site_id", Uuid(), ForeignKey("sites.id"), nullable=False),
    Column("customer_id", Uuid(), ForeignKey("customer_users.id"), nullable=False),
    Column("amount_in_cents", BigInteger(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("checkout_id", Text, nullable=True),  # ch_...
    Column("checkout_url", Text, nullable=True),
    Column("provider_id", Text, nullable=True),  # su_...
    Column("current_period_start", UTCDateTime(), nullable=True),
    Column("current_period_end", UTCDateTime(), nullable=True),
    Column("next_payment_attempt_at", UTCDateTime(), nullable=True),
    Column("paid_through", UTCDateTime(), nullable=True),
    Column("cancel_at_period_end", Boolean(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("cancelled_at", UTCDateTime(), nullable=True),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("last_synced_at", UTCDateTime(), nullable=True),
    UniqueConstraint("id"),
    UniqueConstraint("checkout_id"),
    UniqueConstraint("provider_id"),
    Index("ix_subscriptions_site_id", "site_id"),
    # The sweep: cancelled ones whose paid time is over; those due for a re-read.
    Index("ix_subscriptions_status_paid_through", "status", "paid_through"),
    Index("ix_subscriptions_status_last_synced_at", "status", "last_synced_at"),
)

# One row per payment (``pa_...``) of a subscription; payments never change.
subscription_payments = Table(
    "subscription_payments",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("payment_id", _byte_ordered_text(), nullable=False),
    Column("subscription_id", Uuid(), ForeignKey("subscriptions.id"), nullable=False),
    Column("amount_in_cents", BigInteger(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("paid_at", UTCDateTime(), nullable=False),
    Column("period_end", UTCDateTime(), nullable=True),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("payment_id"),
    Index("ix_subscription_payments_subscription_id", "subscription_id"),
)

# Reminders sent (the sweep's "hosting ends soon" mails): the unique key is what makes
# each one go out once, however many sweeps run.
notices = Table(
    "notices",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("site_id", Uuid(), ForeignKey("sites.id"), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    UniqueConstraint("key"),
    Index("ix_notices_site_id", "site_id"),
)

# One row, written by every readiness check (revision 0006): "ready" means the database
# takes a committed write (not read-only, not full, not locked for long), not only a read.
health_checks = Table(
    "health_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("checked_at", UTCDateTime(), nullable=False),
)

# Custom domains (revision 0008). One per site; a name belongs to one site. Both are unique
# constraints, so two sites racing for a name end in one Conflict, never in two owners.
# Rows are deleted on removal; their history (``domain_events``) stays.
custom_domains = Table(
    "custom_domains",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("site_id", Uuid(), ForeignKey("sites.id"), nullable=False),
    Column("domain", String(253), nullable=False),
    Column("token", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("verified_at", UTCDateTime(), nullable=True),
    Column("last_checked_at", UTCDateTime(), nullable=True),
    Column("grace_ends_at", UTCDateTime(), nullable=True),
    Column("detail", Text, nullable=True),
    Column("cert_status", String(20), nullable=False),
    Column("cert_not_after", UTCDateTime(), nullable=True),
    Column("cert_checked_at", UTCDateTime(), nullable=True),
    Column("cert_fingerprint", String(64), nullable=True),
    Column("cert_expiry_mailed_for", String(64), nullable=True),
    UniqueConstraint("domain"),
    UniqueConstraint("site_id"),
    UniqueConstraint("token"),
    Index("ix_custom_domains_status", "status"),
)

domain_events = Table(
    "domain_events",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False),
    Column("site_id", Uuid(), ForeignKey("sites.id"), nullable=False),
    Column("domain", String(253), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    UniqueConstraint("id"),
    Index("ix_domain_events_site_id", "site_id"),
    Index("ix_domain_events_domain", "domain"),
)

# An account's history as operators made it (revision 0010): deactivated, reactivated,
# links resent, each with the operator's reason.
customer_events = Table(
    "customer_events",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False),
    Column("customer_id", Uuid(), ForeignKey("customer_users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("detail", Text, nullable=False),
    Column("actor", String(20), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    UniqueConstraint("id"),
    Index("ix_customer_events_customer_id", "customer_id"),
)

# Edit requests (revision 0011): an owner's words, the draft an engine or an operator made
# of them, and what became of it. The draft's files are rows of ``edit_draft_files``
# naming bodies in ``blobs`` (like a version's), so approving one copies no bytes.
edit_requests = Table(
    "edit_requests",
    metadata,
    Column("seq", _sequence_type(), primary_key=True, autoincrement=True),
    Column("id", Uuid(), nullable=False),
    Column("site_id", Uuid(), ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("customer_id", Uuid(), ForeignKey("customer_users.id"), nullable=False),
    Column("instructions", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("base_version", Integer, nullable=True),
    Column("summary", Text, nullable=True),
    Column("drafted_at", UTCDateTime(), nullable=True),
    Column("drafted_by", String(50), nullable=True),
    Column("version", Integer, nullable=True),
    Column("reason", Text, nullable=True),
    Column("detail", Text, nullable=True),
    Column("claim_id", Uuid(), nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    UniqueConstraint("id"),
    Index("ix_edit_requests_site_id_created_at", "site_id", "created_at"),
    Index("ix_edit_requests_status_created_at", "status", "created_at"),
)

edit_draft_files = Table(
    "edit_draft_files",
    metadata,
    Column("edit_id", Uuid(), ForeignKey("edit_requests.id", ondelete="CASCADE"), primary_key=True),
    Column("path", _path_type(), primary_key=True),
    Column("digest", String(64), ForeignKey("blobs.digest"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("slug_digest", String(64), ForeignKey("blobs.digest"), nullable=False),
    Column("root_digest", String(64), ForeignKey("blobs.digest"), nullable=False),
    Index("ix_edit_draft_files_digest", "digest"),
    Index("ix_edit_draft_files_slug_digest", "slug_digest"),
    Index("ix_edit_draft_files_root_digest", "root_digest"),
)

# The sandbox test clock (revision 0012): one row, how far `webmagic sandbox clock advance`
# has moved the application's time forward. Read only when payments are sandbox.
sandbox_clock = Table(
    "sandbox_clock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("offset_seconds", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    CheckConstraint("id = 1", name="one_row"),
    CheckConstraint("offset_seconds >= 0", name="forward_only"),
)


# Static publishing (revision 0014): sites whose files must be written again, one row per
# site (requests coalesce; ``generation`` counts them so a worker can tell whether one
# came while it was writing). No foreign key: a request is about whatever the site is
# when it is handled.
publish_requests = Table(
    "publish_requests",
    metadata,
    Column("site_id", Uuid(), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_publish_requests_next_attempt_at", "next_attempt_at"),
)
