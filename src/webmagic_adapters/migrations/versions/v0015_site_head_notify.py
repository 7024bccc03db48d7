"""PostgreSQL: announce every change of what a site's head reads (``NOTIFY``).

Hosting keeps site heads in memory per process on PostgreSQL
(``webmagic_adapters.sqlalchemy.site_directory``) and forgets one when its slug is
announced on the ``webmagic_site_heads`` channel. Triggers send it, so no writer can
forget to: any change of a ``sites`` row (the old and the new slug), and any change of
a ``rendered_pages`` row (the stored page a head names). ``NOTIFY`` is delivered when
the transaction commits, and only then. SQLite needs none of this (its readers ask
``PRAGMA data_version``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None

CHANNEL = "webmagic_site_heads"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION webmagic_notify_site_head() RETURNS trigger AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('{CHANNEL}', OLD.slug);
            END IF;
            IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.slug IS DISTINCT FROM OLD.slug) THEN
                PERFORM pg_notify('{CHANNEL}', NEW.slug);
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION webmagic_notify_rendered_page() RETURNS trigger AS $$
        DECLARE
            site uuid;
        BEGIN
            IF TG_OP = 'DELETE' THEN site := OLD.site_id; ELSE site := NEW.site_id; END IF;
            PERFORM pg_notify('{CHANNEL}', slug) FROM sites WHERE id = site;
            IF TG_OP = 'UPDATE' AND OLD.site_id <> NEW.site_id THEN
                PERFORM pg_notify('{CHANNEL}', slug) FROM sites WHERE id = OLD.site_id;
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER sites_notify_head AFTER INSERT OR UPDATE OR DELETE ON sites "
        "FOR EACH ROW EXECUTE FUNCTION webmagic_notify_site_head()"
    )
    op.execute(
        "CREATE TRIGGER rendered_pages_notify_head AFTER INSERT OR UPDATE OR DELETE ON rendered_pages "
        "FOR EACH ROW EXECUTE FUNCTION webmagic_notify_rendered_page()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER rendered_pages_notify_head ON rendered_pages")
    op.execute("DROP TRIGGER sites_notify_head ON sites")
    op.execute("DROP FUNCTION webmagic_notify_rendered_page()")
    op.execute("DROP FUNCTION webmagic_notify_site_head()")
