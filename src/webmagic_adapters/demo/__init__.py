"""Demo sites shipped with the package: a bakery, a plumber and a dental studio.

They are ordinary site folders (see ``webmagic_adapters.site_folders``) under ``sites/``,
loaded with the same code as ``webmagic sites import``.
"""

from __future__ import annotations

from importlib.resources import as_file, files

from webmagic_adapters.site_folders import ImportResult, Outcome, import_site_folders, site_folders
from webmagic_core.errors import WebMagicError
from webmagic_core.services.sites import SiteService

DEMO_SLUGS = ("brightsmile-dental", "rapidflow-plumbing", "sunrise-bakery")


def load_demo_results(sites: SiteService) -> list[ImportResult]:
    """Import every demo site that does not exist yet; existing slugs are left untouched."""
    with as_file(files(__name__) / "sites") as root:
        results = list(import_site_folders(sites, site_folders(root), skip_existing=True, cause="demo site"))
    failed = [r for r in results if r.outcome is Outcome.FAILED]
    if failed:
        # The demo content ships with the package: a failure here is a fault, not bad input,
        # unless the database itself is the problem (reported as such by the error).
        raise WebMagicError(f"demo site {failed[0].slug!r} could not be loaded: {failed[0].error}")
    return results


def load_demo_sites(sites: SiteService) -> list[tuple[str, bool]]:
    """Load the demo sites if they are not there yet; returns ``(slug, created)`` pairs."""
    return [(r.slug, r.outcome is Outcome.CREATED) for r in load_demo_results(sites)]
