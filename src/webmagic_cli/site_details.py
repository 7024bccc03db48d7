"""How ``webmagic sites`` prints sites: ``show``'s facts, versions and timeline (tables or
JSON), ``list``'s table and JSON, and ``import``'s line per folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from webmagic_adapters.bootstrap import Container, ImportResult, Outcome, Settings
from webmagic_cli import output
from webmagic_cli.options import site_url
from webmagic_core.errors import Unauthenticated
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.services.sites import SiteDetails
from webmagic_core.services.timeline import TimelineEntry, TimelineKind
from webmagic_core.sites import Site, SiteVersion


def _version_cause(version: SiteVersion) -> str:
    """The cause, with the edit or version it came from and the operator's words."""
    cause = version.cause.value
    if version.restored_from is not None:
        cause += f" of version {version.restored_from}"
    if version.edit_id is not None:
        cause += f" {str(version.edit_id)[:8]}"
    return f"{cause}: {version.note}" if version.note else cause


def owner_email_of(container: Container, site: Site) -> str | None:
    if site.owner_id is None:
        return None
    try:
        return container.accounts.me(site.owner_id).email
    except Unauthenticated:  # the account is gone; the site keeps its owner id
        return None


def _url(settings: Settings, site: Site) -> str | None:
    return None if site.status is SiteStatus.ARCHIVED else site_url(settings, site.slug)


def site_json(settings: Settings, site: Site) -> dict[str, Any]:
    return {
        "slug": site.slug,
        "business_name": site.business_name,
        "status": site.status.value,
        "current_version": site.current_version,
        "created_at": output.iso(site.created_at),
        "url": _url(settings, site),
    }


TIMELINE_STYLES: dict[TimelineKind, str] = {
    TimelineKind.SITE: "bold cyan",
    TimelineKind.PURCHASE: "green",
    TimelineKind.CHECKOUT: "green",
    TimelineKind.SUBSCRIPTION: "bold green",
    TimelineKind.NOTICE: "yellow",
    TimelineKind.WEBHOOK: "magenta",
    TimelineKind.ANOMALY: "bold red",
    TimelineKind.EMAIL: "blue",
    TimelineKind.DOMAIN: "bold blue",
    TimelineKind.ACCOUNT: "bold red",
}


def print_details_json(
    settings: Settings, details: SiteDetails, timeline: Sequence[TimelineEntry], owner_email: str | None
) -> None:
    site = details.site
    output.print_json(
        {
            **site_json(settings, site),
            "owner_email": owner_email,
            "updated_at": output.iso(site.updated_at),
            "versions": [
                {
                    "number": v.number,
                    "created_at": output.iso(v.created_at),
                    "cause": v.cause.value,
                    "note": v.note,
                    "edit_id": str(v.edit_id) if v.edit_id else None,
                    "restored_from": v.restored_from,
                    "created_by": v.created_by.value,
                    "files": len(v.files),
                    "bytes": v.size,
                }
                for v in details.versions
            ],
            "events": [
                {
                    "from_status": e.from_status.value if e.from_status else None,
                    "to_status": e.to_status.value,
                    "cause": e.cause,
                    "actor": e.actor.value,
                    "reference": e.reference,
                    "occurred_at": output.iso(e.occurred_at),
                }
                for e in details.events
            ],
            "timeline": [
                {
                    "at": output.iso(entry.at),
                    "kind": entry.kind.value,
                    "summary": entry.summary,
                    "reference": entry.reference,
                }
                for entry in timeline
            ],
        }
    )


def print_details(
    settings: Settings, details: SiteDetails, timeline: Sequence[TimelineEntry], owner_email: str | None
) -> None:
    site = details.site
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Site", Text(site.slug, style="bold") + Text(f"  {site.business_name}"))
    facts.add_row("Status", output.status_text(site.status))
    facts.add_row("Owner", Text(owner_email or "— (not sold)", style="" if owner_email else "dim"))
    facts.add_row("URL", Text(_url(settings, site) or "— (archived sites are not served)"))
    facts.add_row("Version", f"{site.current_version} (current) of {len(details.versions)}")
    facts.add_row("Created", output.when(site.created_at))
    facts.add_row("Updated", output.when(site.updated_at))
    output.print_table(facts)

    versions = output.table("#", "Created", "Cause", "By", title="\nVersions", no_wrap=("Created",))
    for version in details.versions:
        mark = " *" if version.number == site.current_version else ""
        versions.add_row(
            f"{version.number}{mark}",
            output.when(version.created_at),
            Text(_version_cause(version)),
            version.created_by.value,
        )
    output.print_table(versions)

    grid = output.table(
        "When", "Kind", "What", "Reference", title="\nTimeline", no_wrap=("When", "Kind", "Reference")
    )
    for entry in timeline:
        grid.add_row(
            output.when(entry.at),
            Text(entry.kind.value, style=TIMELINE_STYLES[entry.kind]),
            Text(entry.summary),
            Text(entry.reference or "—", style="" if entry.reference else "dim"),
        )
    output.print_table(grid)


def print_import_result(settings: Settings, result: ImportResult) -> None:
    if result.outcome is Outcome.CREATED and result.site is not None:
        line = Text("  ✓ ", style="green") + Text(result.slug, style="bold")
        line += Text(f"  {result.site.business_name}  {site_url(settings, result.slug)}")
    elif result.outcome is Outcome.EXISTS:
        line = Text("  • ", style="yellow") + Text(result.slug, style="bold") + Text("  already there")
    else:
        line = (
            Text("  ✗ ", style="red")
            + Text(result.slug, style="bold")
            + Text(f"  {result.error}", style="red")
        )
    output.say(line)
    for problem in result.problems:
        output.say(Text(f"      {result.slug}/{problem}", style="red"))


def print_sites(settings: Settings, sites: Sequence[Site]) -> None:
    grid = output.table("Slug", "Business", "Status", "Version", "Created")
    grid.columns[0].no_wrap = True
    for site in sites:
        grid.add_row(
            Text(site.slug, style="bold"),
            Text(site.business_name),
            output.status_text(site.status),
            str(site.current_version),
            output.when(site.created_at).split(" ")[0],
        )
    output.print_table(grid)
    output.say(f"{output.plural(len(sites), 'site')}, served at {site_url(settings, 'SLUG')}", style="dim")
