"""One version's page in the portal: what it changed against the version before it, file
by file (``/portal/sites/{slug}/versions/{number}``). The site page's versions section is
``portal_versions_view``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Template

from webmagic_core.accounts.customers import Customer
from webmagic_core.services.sites import SiteService
from webmagic_core.site_diff import Change, FileChange
from webmagic_http.portal_versions_view import cause_words
from webmagic_http.portal_words import day

PageFn = Callable[..., Template]

# A diff longer than this many lines shows its beginning and says how much is left out.
MAX_DIFF_LINES = 1500


def size_text(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _line_kind(line: str) -> str:
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    if line.startswith("\\"):
        return "note"
    return "ctx"


def file_view(change: FileChange) -> dict[str, Any]:
    """One changed file for ``portal/version.html``."""
    view: dict[str, Any] = {
        "name": change.name,
        "change": change.change.value,
        "binary": change.binary,
        "added": change.added,
        "removed": change.removed,
    }
    if change.binary:
        match change.change:
            case Change.ADDED:
                view["summary"] = f"Added ({size_text(change.size_after)})"
            case Change.REMOVED:
                view["summary"] = f"Removed (it was {size_text(change.size_before)})"
            case Change.CHANGED:
                view["summary"] = (
                    f"Changed: {size_text(change.size_before)} before, {size_text(change.size_after)} now"
                )
        return view
    # The ---/+++ header lines repeat the file name shown above the diff.
    lines = [line for line in change.unified_diff.splitlines() if not line.startswith(("--- ", "+++ "))]
    view["lines"] = [{"kind": _line_kind(line), "text": line} for line in lines[:MAX_DIFF_LINES]]
    view["hidden_lines"] = max(0, len(lines) - MAX_DIFF_LINES)
    return view


def version_handlers(
    *,
    sites: SiteService,
    customer_of: Callable[[Request[Any, Any, Any]], Customer],
    page: PageFn,
) -> list[HTTPRouteHandler]:
    @get("/sites/{slug:str}/versions/{number:int}", sync_to_thread=True)
    def version(request: Request[Any, Any, Any], slug: FromPath[str], number: FromPath[int]) -> Template:
        customer = customer_of(request)
        history = sites.owned_versions(customer.id, slug)  # NotFound for anyone else's site
        site = history.site
        summary = next((v for v in history.versions if v.number == number), None)
        if summary is None:
            return page(
                "message",
                404,
                title="This version does not exist",
                message=f"{site.business_name} has no version {number}.",
                next_step=None,
                ok=False,
                customer=customer,
                back={"href": f"/portal/sites/{slug}#versions", "text": f"Back to {site.business_name}"},
            )
        diff = sites.owned_version_diff(customer.id, slug, number)
        files = [file_view(f) for f in diff.files]
        return page(
            "version",
            title=f"Version {number} of {site.business_name}",
            customer=customer,
            site={"slug": site.slug, "name": site.business_name},
            version={
                "number": number,
                "on": day(summary.created_at),
                "at": summary.created_at.astimezone(dt.UTC).isoformat(),
                "cause": cause_words(summary),
                "current": number == site.current_version,
                "from": diff.from_number,
            },
            files=files,
            added=sum(f.added for f in diff.files),
            removed=sum(f.removed for f in diff.files),
        )

    return [version]
