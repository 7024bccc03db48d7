"""The page a site serves at ``/{slug}``, rendered once when what it serves changes.

A version's ``index.html`` is served in one of two variants, chosen by the site's status
(the lifecycle's ``ServeMode``): with the preview banner, or clean. Both are computed
when the version is written and stored as bodies named by their digest, so hosting never
renders per request: the site's head names the digest of the variant its status serves
(its strong ETag), and a page-cache miss reads those ready bytes by digest.

The banner's bytes depend on deployment settings (the price, the public URL), so a
rendered banner records the ``key`` of the settings it was made with; hosting serves it
only while that key is its own, and renders on the fly otherwise (after a price change,
until ``webmagic db upgrade`` renders the banners again).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import attrs

from webmagic_core.lifecycle import ServeMode, SiteStatus, policy
from webmagic_core.site_files import INDEX, VersionFile


class PageVariant(enum.StrEnum):
    BANNER = "banner"
    CLEAN = "clean"


_VARIANTS = {ServeMode.WITH_BANNER: PageVariant.BANNER, ServeMode.CLEAN: PageVariant.CLEAN}


def page_variant(status: SiteStatus) -> PageVariant | None:
    """The variant a site in ``status`` serves at ``/{slug}``; None when it serves no page
    (suspended: 503, archived: 404)."""
    return _VARIANTS.get(policy(status).serve)


def variant_by_status() -> dict[SiteStatus, PageVariant]:
    """Every status that serves a page, and its variant (what a SQL adapter turns into
    a ``CASE``)."""
    return {status: variant for status in SiteStatus if (variant := page_variant(status)) is not None}


@attrs.frozen
class RenderedPage:
    """One stored variant of a version's page: the digest of its bytes (the ETag) and,
    for the banner, the key of the settings it was rendered with (``""``: none needed)."""

    variant: PageVariant
    digest: str
    key: str = ""


def clean_page(files: Sequence[VersionFile]) -> RenderedPage | None:
    """The clean variant: the page exactly as served under ``/{slug}`` (already stored)."""
    for file in files:
        if file.path == INDEX:
            return RenderedPage(PageVariant.CLEAN, file.slug_digest)
    return None
