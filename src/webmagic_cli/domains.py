"""``webmagic domains``: custom domains for operators -- list, show one with its records and
history of checks, and run the re-verification now."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from webmagic_cli import output
from webmagic_cli.errors import EXIT_REFUSED
from webmagic_cli.options import DatabaseUrl, DataDir, Json, services, settings_from
from webmagic_core.domains.model import CustomDomain, DomainStatus
from webmagic_core.services.domains import CheckReport, dns_records

app = typer.Typer(
    name="domains",
    help="Custom domains: list them, show one with its DNS records and checks, re-verify now, remove one.",
    no_args_is_help=True,
)

STATUS_STYLES = {
    DomainStatus.PENDING: "cyan",
    DomainStatus.VERIFIED: "green",
    DomainStatus.FAILING: "yellow",
    DomainStatus.LAPSED: "red",
}


def _iso(value: Any) -> str | None:
    return output.iso(value) if value is not None else None


def domain_json(domain: CustomDomain, slug: str, cnames_to: str) -> dict[str, Any]:
    cert = domain.certificate
    return {
        "domain": domain.domain,
        "site": slug,
        "status": domain.status.value,
        "dns_records": [
            {"type": r.type, "name": r.name, "value": r.value} for r in dns_records(domain, cnames_to)
        ],
        "verified_at": _iso(domain.verified_at),
        "last_checked_at": _iso(domain.last_checked_at),
        "grace_ends_at": _iso(domain.grace_ends_at),
        "detail": domain.detail,
        "certificate": {
            "status": cert.status.value,
            "not_after": _iso(cert.not_after),
            "checked_at": _iso(cert.checked_at),
        },
    }


def _when(value: Any) -> str:
    return output.when(value) if value is not None else "-"


@app.command("list")
def list_domains(as_json: Json = False, database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Every custom domain, by name, with its site, status and certificate.

    Example: `webmagic domains list --json`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        views = container.domains.list_all()
        cnames_to = container.domains.config.cnames_to
    if as_json:
        output.print_json([domain_json(v.domain, v.slug, cnames_to) for v in views])
        return
    if not views:
        output.say("No custom domains yet.", style="dim")
        return
    grid = output.table(
        "Domain", "Site", "Status", "Last checked", "Grace ends", "Certificate", no_wrap=("Domain",)
    )
    for view in views:
        d = view.domain
        cert = d.certificate
        grid.add_row(
            d.domain,
            view.slug,
            Text(d.status.value, style=STATUS_STYLES[d.status]),
            _when(d.last_checked_at),
            _when(d.grace_ends_at),
            cert.status.value + (f" (until {output.when(cert.not_after)})" if cert.not_after else ""),
        )
    output.print_table(grid)


@app.command()
def show(
    domain: Annotated[str, typer.Argument(help="The domain name, e.g. www.example.com")],
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """One custom domain: its site, status, the DNS records the owner must keep, its
    certificate, and its history (every check, verification, lapse and certificate change).

    Example: `webmagic domains show www.example.com`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        history = container.domains.history(domain)
        cnames_to = container.domains.config.cnames_to
    d = history.domain
    if as_json:
        output.print_json(
            {
                **domain_json(d, history.slug, cnames_to),
                "history": [
                    {"at": output.iso(e.at), "kind": e.kind.value, "detail": e.detail} for e in history.events
                ],
            }
        )
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Domain", d.domain)
    grid.add_row("Site", history.slug)
    grid.add_row("Status", Text(d.status.value, style=STATUS_STYLES[d.status]))
    grid.add_row("Verified", _when(d.verified_at))
    grid.add_row("Last checked", _when(d.last_checked_at))
    grid.add_row("Grace ends", _when(d.grace_ends_at))
    grid.add_row("Detail", d.detail or "-")
    cert = d.certificate
    grid.add_row(
        "Certificate", f"{cert.status.value}, until {_when(cert.not_after)}, checked {_when(cert.checked_at)}"
    )
    output.print_table(grid)
    records = output.table("Type", "Name", "Value", title="DNS records", no_wrap=("Type",))
    for record in dns_records(d, cnames_to):
        records.add_row(record.type, record.name, record.value)
    output.print_table(records)
    events = output.table("When", "What", "Detail", title="History", no_wrap=("When",))
    for event in history.events:
        events.add_row(output.when(event.at), event.kind.value, event.detail)
    output.print_table(events)


@app.command()
def remove(
    domain: Annotated[str, typer.Argument(help="The domain name, e.g. www.example.com")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Remove a custom domain from its site (any site, archived ones too, which frees the
    name for another site). It stops being served, and gets no certificate, at once; its
    history is kept.

    Example: `webmagic domains remove www.example.com`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        slug = container.domains.remove_by_name(domain)
    output.say(f"Removed {domain.strip().lower().rstrip('.')} from {slug}.")


def check_json(report: CheckReport) -> dict[str, Any]:
    return {
        "checked": report.checked,
        "verified": report.verified,
        "failing": report.failing,
        "lapsed": report.lapsed,
        "inconclusive": report.inconclusive,
        "certificates": dict(sorted(report.certificates.items())),
        "errors": list(report.errors),
    }


@app.command()
def check(
    domain: Annotated[
        str | None, typer.Option("--domain", help="Check only this domain (in any status).", metavar="DOMAIN")
    ] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Re-verify custom domains now: look up each verified or failing domain's TXT record
    (a lost one goes failing and its owner is mailed; still lost after
    WEBMAGIC_DOMAIN_GRACE_HOURS, lapsed: no longer served, no certificates) and probe the
    certificates of the domains still served.

    `webmagic serve` runs this periodically; running it by hand (or from cron, or while the
    server runs) is safe. Exit code 0 when every domain was checked, 1 when some failed.

    Example: `webmagic domains check --domain www.example.com`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        due = container.domains.due(domain)
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=output.err_console(),
            transient=True,
        )
        report = CheckReport()
        with progress:
            task = progress.add_task("Checking", total=len(due))
            for item in due:
                progress.update(task, description=f"Checking {item.domain}")
                try:
                    container.domains.check_one(item, report)
                except Exception as error:
                    report.errors.append(f"{item.domain}: {error}")
                progress.advance(task)
    if as_json:
        output.print_json(check_json(report))
    else:
        output.say(
            f"{output.plural(report.checked, 'domain')} checked: {report.verified} verified, "
            f"{report.failing} failing, {report.lapsed} lapsed, "
            f"{report.inconclusive} without a usable DNS answer"
        )
        if report.certificates:
            output.say(
                "Certificates: "
                + ", ".join(f"{count} {status}" for status, count in sorted(report.certificates.items()))
            )
        for problem in report.errors:
            output.say(f"  ✗ {problem}", style="red")
    if report.errors:
        raise typer.Exit(EXIT_REFUSED)
