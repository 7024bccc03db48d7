"""Rendering the preview banner pages that are missing or stale, in bulk.

Used by migration 0013 (the back-fill of every preview existing before it) and by
``webmagic db upgrade`` / ``webmagic serve`` after the migrations, which also renders
again the banners made under other settings (a new price: the ``PreviewBanner.key``
changed). Written in plain SQL over the tables as revision 0013 left them, so that the
migration keeps working whatever later revisions change in ``tables.py``. Sites go in
slug order, ``BATCH`` at a time, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, bindparam, text

from webmagic_core.pages import PageVariant, variant_by_status
from webmagic_core.ports import PreviewBanner
from webmagic_core.site_files import INDEX, digest_of

# The statements interpolate constants only (the core's enum values, INDEX); every value
# from the data is a bound parameter.
BATCH = 500
Progress = Callable[[int, int], None]  # (done, total)

_BANNER_STATUSES = ", ".join(
    f"'{status.value}'" for status, variant in variant_by_status().items() if variant is PageVariant.BANNER
)
_WANTED = (
    " FROM sites s JOIN site_version_files f"  # noqa: S608
    f" ON f.site_id = s.id AND f.number = s.current_version AND f.path = '{INDEX}'"
    f" WHERE s.status IN ({_BANNER_STATUSES}) AND NOT EXISTS ("
    " SELECT 1 FROM rendered_pages r WHERE r.site_id = s.id AND r.number = s.current_version"
    f" AND r.variant = '{PageVariant.BANNER.value}' AND r.render_key = :key)"
)
_COUNT = text(f"SELECT count(*) {_WANTED}")
_NEXT = text(
    f"SELECT s.slug, s.id, s.business_name, s.current_version, f.digest, f.slug_digest {_WANTED}"
    " AND s.slug > :after ORDER BY s.slug LIMIT :limit"
)
_BODIES = text("SELECT digest, data FROM blobs WHERE digest IN :digests").bindparams(
    bindparam("digests", expanding=True)
)
_STORE = text(
    "INSERT INTO blobs (digest, size, data) VALUES (:digest, :size, :data) ON CONFLICT (digest) DO NOTHING"
)
_FORGET = text(
    f"DELETE FROM rendered_pages WHERE site_id = :site_id AND number = :number"  # noqa: S608
    f" AND variant = '{PageVariant.BANNER.value}'"
)
_RECORD = text(
    "INSERT INTO rendered_pages (site_id, number, variant, digest, render_key)"  # noqa: S608
    f" VALUES (:site_id, :number, '{PageVariant.BANNER.value}', :digest, :key)"
)


def count_stale_banners(connection: Connection, banner: PreviewBanner) -> int:
    """Previews whose current version has no banner page rendered under ``banner.key``."""
    return int(connection.execute(_COUNT, {"key": banner.key}).scalar_one())


def render_banners(connection: Connection, banner: PreviewBanner, *, progress: Progress | None = None) -> int:
    """Render and store every missing or stale banner page; returns how many."""
    total = count_stale_banners(connection, banner)
    done = 0
    after = ""
    if progress is not None:
        progress(0, total)
    while True:
        rows = connection.execute(_NEXT, {"key": banner.key, "after": after, "limit": BATCH}).all()
        if not rows:
            return done
        served = {row.slug_digest for row in rows}
        bodies = {
            digest: bytes(data) for digest, data in connection.execute(_BODIES, {"digests": sorted(served)})
        }
        blobs: dict[str, bytes] = {}
        pages = []
        for row in rows:
            page = banner.render(
                bodies[row.slug_digest],
                slug=row.slug,
                business_name=row.business_name,
                rewritten=row.slug_digest != row.digest,
            )
            digest = digest_of(page)
            blobs[digest] = page
            pages.append(
                {"site_id": row.id, "number": row.current_version, "digest": digest, "key": banner.key}
            )
        connection.execute(_STORE, [{"digest": d, "size": len(b), "data": b} for d, b in blobs.items()])
        connection.execute(_FORGET, [{"site_id": p["site_id"], "number": p["number"]} for p in pages])
        connection.execute(_RECORD, pages)
        done += len(rows)
        after = rows[-1].slug
        if progress is not None:
            progress(done, total)
