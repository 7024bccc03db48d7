"""``webmagic sites ...``: create, import, list, show, publish and archive sites."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from webmagic_adapters.bootstrap import (
    HTML_FILE,
    Container,
    ImportResult,
    Outcome,
    Settings,
    import_site_folder,
    read_folder_files,
    read_limited,
    site_folders,
)
from webmagic_cli import output
from webmagic_cli.errors import UsageProblem
from webmagic_cli.options import DatabaseUrl, DataDir, Json, only, services, settings_from, site_url
from webmagic_core.errors import Conflict, Unauthenticated, ValidationError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.services.sites import SiteDetails, SiteService
from webmagic_core.services.timeline import TimelineKind
from webmagic_core.site_files import FileLimits, SiteFiles
from webmagic_core.sites import MAX_ASSET_BYTES, MAX_HTML_BYTES, Site, SiteContent, SiteVersion
from webmagic_core.slugs import validate_slug

app = typer.Typer(
    name="sites",
    help="Create, import, list, inspect, publish and archive sites.",
    no_args_is_help=True,
)

Slug = Annotated[
    str, typer.Argument(help="The site's slug: its address is /SLUG.", metavar="SLUG", show_default=False)
]
HtmlFile = Annotated[
    Path | None,
    typer.Option("--html", help="The page's HTML file (UTF-8, at most 5 MB).", show_default=False),
]
DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="A folder holding the whole site: index.html and any files below it (images, fonts...).",
        show_default=False,
    ),
]


def _read(path: Path | None, option: str, limit: int, label: str) -> bytes | None:
    if path is None:
        return None
    if path.is_dir():
        raise UsageProblem(f"{option} {str(path)!r} is a folder, not a file")
    try:
        return read_limited(path, limit, label)
    except OSError as exc:
        raise UsageProblem(f"cannot read the {option} file {str(path)!r}: {exc.strerror or exc}") from None


def _folder_files(directory: Path, limits: FileLimits) -> SiteFiles:
    """The whole site from ``--dir``; skipped files are warned about, one line each."""
    if not directory.is_dir():
        raise UsageProblem(f"--dir {str(directory)!r} is not a folder")
    read = read_folder_files(directory, limits)
    for line in read.skipped:
        output.warn(line)
    return read.files


def _chosen_files(
    directory: Path | None,
    html: Path | None,
    css: Path | None,
    js: Path | None,
    limits: FileLimits,
    *,
    current: SiteFiles | None = None,
) -> SiteFiles:
    """``--dir``, or the ``--html/--css/--js`` shortcut (over ``current``'s other files)."""
    if directory is not None:
        if html or css or js:
            raise UsageProblem("give either --dir or --html/--css/--js, not both")
        return _folder_files(directory, limits)
    if html is None:
        raise UsageProblem("give the site's files: --dir FOLDER, or --html FILE [--css FILE] [--js FILE]")
    content = _content(html, css, js)
    bodies = dict(current.bodies) if current is not None else {}
    bodies["index.html"] = content.html.encode()
    for name, given, text in (("styles.css", css, content.css), ("app.js", js, content.js)):
        if given is None:
            continue  # kept from ``current`` (or absent)
        if text:
            bodies[name] = text.encode()
        else:
            bodies.pop(name, None)  # an empty file drops it
    return SiteFiles.build(bodies, limits)


def _content(html: Path, css: Path | None, js: Path | None) -> SiteContent:
    """Read the shortcut's files."""
    html_bytes = _read(html, "--html", MAX_HTML_BYTES, "HTML") or b""
    css_bytes = _read(css, "--css", MAX_ASSET_BYTES, "CSS")
    js_bytes = _read(js, "--js", MAX_ASSET_BYTES, "JS")
    try:
        return SiteContent.from_bytes(html_bytes, css_bytes or b"", js_bytes or b"")
    except ValidationError as exc:
        # Name the file the problem is in.
        path = {"html": html, "css": css, "js": js}.get(exc.field or "")
        if path is None:
            raise
        raise ValidationError(f"{path}: {exc.detail}", field=exc.field) from None


def _live_details(sites: SiteService, slug: str, *, if_archived: str) -> SiteDetails:
    details = sites.details(slug)
    if details.site.status is SiteStatus.ARCHIVED:
        raise Conflict(f"the site {slug!r} is{if_archived} archived")
    return details


@app.command()
def create(
    slug: Slug,
    name: Annotated[str, typer.Option("--name", "-n", help="The business's name.", show_default=False)],
    directory: DirOption = None,
    html: HtmlFile = None,
    css: Annotated[
        Path | None, typer.Option("--css", help="A stylesheet, served as /SLUG/styles.css.")
    ] = None,
    js: Annotated[Path | None, typer.Option("--js", help="A script, served as /SLUG/app.js.")] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Create a preview site from a folder (`--dir`), or from an HTML file (and optional CSS and JS).

    The site is served at `/SLUG` with a purchase banner until someone buys it; a file
    `img/logo.png` of the folder at `/SLUG/img/logo.png`.

    Example: `webmagic sites create rosas-bakery --name "Rosa's Bakery" --dir ./rosas-bakery`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    validate_slug(slug)
    files = _chosen_files(directory, html, css, js, settings.file_limits)
    with services(settings) as container:
        site = container.sites.create_preview(slug, name, files, cause="created from the CLI")
    output.say(
        Text("Created ") + Text(site.slug, style="bold") + Text(f" ({site.business_name}), version 1.")
    )
    output.say(f"  {site_url(settings, site.slug)}")


@app.command("import")
def import_(
    directory: Annotated[
        Path,
        typer.Argument(help="A folder holding one sub-folder per site.", metavar="DIR", show_default=False),
    ],
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing", help="Count a taken slug as already imported, not as a failure."),
    ] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Import many sites at once, one sub-folder per site.

    Each sub-folder is named after the site's slug and holds `index.html` and any other
    files of the site in any sub-folders (stylesheets, scripts, images, fonts...), and
    optionally `site.json` or `site.toml` with the business name (`business_name = "..."`);
    without one, the page's `<title>` names the business. Hidden files and symbolic links
    are skipped with a warning.

    Every site is created in its own transaction: a broken folder is reported (one line
    per file at fault) and skipped, the others are imported. The exit code is 1 if any
    site failed.

    Example: `webmagic sites import ./generated-sites`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    if not directory.is_dir():
        raise UsageProblem(f"{str(directory)!r} is not a folder")
    if (directory / HTML_FILE).is_file():
        raise UsageProblem(
            f"{str(directory)!r} holds an {HTML_FILE} itself; pass the folder that contains the site folders"
        )
    folders = site_folders(directory)
    if not folders:
        raise UsageProblem(
            f"{str(directory)!r} has no sub-folders; put each site in a folder named after its slug"
        )

    results: list[ImportResult] = []
    with services(settings) as container:
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=output.err_console(),
            transient=True,
        )
        with progress:
            task = progress.add_task("Importing", total=len(folders))
            for folder in folders:
                progress.update(task, description=f"Importing {folder.name}")
                results.append(
                    import_site_folder(
                        container.sites, folder, skip_existing=skip_existing, cause="imported from a folder"
                    )
                )
                progress.advance(task)

    for result in results:
        _print_import_result(settings, result)
    for result in results:
        for line in result.skipped:
            output.warn(f"{result.slug}/{line}")
    counts = {outcome: sum(r.outcome is outcome for r in results) for outcome in Outcome}
    summary = [f"{output.plural(counts[Outcome.CREATED], 'site')} imported"]
    if counts[Outcome.EXISTS]:
        summary.append(f"{counts[Outcome.EXISTS]} already there")
    if counts[Outcome.FAILED]:
        summary.append(f"{counts[Outcome.FAILED]} failed")
    output.say(", ".join(summary) + ".", style="bold red" if counts[Outcome.FAILED] else "bold")
    taken = sum(r.slug_taken for r in results)
    if taken:
        output.say(
            f"{output.plural(taken, 'slug')} already taken: to import the others again without "
            "counting those as failures, run the same command with --skip-existing."
        )
    if counts[Outcome.FAILED]:
        raise typer.Exit(1)


def _version_cause(version: SiteVersion) -> str:
    """The cause, with the edit or version it came from and the operator's words."""
    cause = version.cause.value
    if version.restored_from is not None:
        cause += f" of version {version.restored_from}"
    if version.edit_id is not None:
        cause += f" {str(version.edit_id)[:8]}"
    return f"{cause}: {version.note}" if version.note else cause


def _owner_email(container: Container, site: Site) -> str | None:
    if site.owner_id is None:
        return None
    try:
        return container.accounts.me(site.owner_id).email
    except Unauthenticated:  # the account is gone; the site keeps its owner id
        return None


def _print_import_result(settings: Settings, result: ImportResult) -> None:
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


@app.command("list")
def list_sites(
    status: Annotated[
        SiteStatus | None,
        only("sites in this status", SiteStatus),
    ] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """List sites, ordered by slug.

    With `--json`, prints an array of objects with `slug`, `business_name`, `status`,
    `current_version`, `created_at` (ISO 8601) and `url` (null for archived sites).
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        sites = container.sites.list_sites(status=status)
    if as_json:
        output.print_json([_site_json(settings, site) for site in sites])
        return
    if not sites:
        output.say(
            f"No {status.value} sites."
            if status
            else "No sites yet: add some with `webmagic sites import DIR`."
        )
        return
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


def _url(settings: Settings, site: Site) -> str | None:
    return None if site.status is SiteStatus.ARCHIVED else site_url(settings, site.slug)


def _site_json(settings: Settings, site: Site) -> dict[str, Any]:
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


@app.command()
def show(
    slug: Slug,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Show one site: its status, versions, address, and its timeline.

    The timeline is the one place to look when a customer calls: in time order, every
    transition, purchase and checkout, each webhook that touched the site, each anomaly
    about it, and each email queued and sent for it.

    With `--json`, prints the fields of `sites list --json` plus `updated_at`, `versions`
    (`number`, `created_at`, `cause`, `created_by`, `files`, `bytes`), `events` (the
    transitions: `from_status`, `to_status`, `cause`, `actor`, `reference`, `occurred_at`)
    and `timeline` (`at`, `kind`: site, purchase, checkout,
    subscription, notice, webhook, anomaly or email, `summary`, `reference`), oldest first.
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        details = container.sites.details(slug)
        timeline = container.timeline.for_site(slug)
        owner_email = _owner_email(container, details.site)
    site = details.site
    if as_json:
        output.print_json(
            {
                **_site_json(settings, site),
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
        return

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


@app.command()
def publish(
    slug: Slug,
    directory: DirOption = None,
    html: HtmlFile = None,
    css: Annotated[
        Path | None, typer.Option("--css", help="A new stylesheet.", show_default="keep the current one")
    ] = None,
    js: Annotated[
        Path | None, typer.Option("--js", help="A new script.", show_default="keep the current one")
    ] = None,
    cause: Annotated[
        str, typer.Option("--cause", "-c", help="Why this version exists, kept in its history.")
    ] = "published from the CLI",
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Publish a new version of a site; it is served from the next request on.

    With `--dir`, the folder is the whole new version. With `--html` (and `--css`,
    `--js`), every other file is carried over from the current version: CSS and JS you
    leave out are kept (pass an empty file to drop one), and so are images and fonts.
    Earlier versions are all kept.

    Example: `webmagic sites publish rosas-bakery --dir ./rosas-bakery --cause "new opening hours"`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    if directory is not None:
        files = _chosen_files(directory, html, css, js, settings.file_limits)
    with services(settings) as container:
        details = _live_details(container.sites, slug, if_archived="")
        if directory is None:
            _, current = container.sites.version_files(details.site.id, details.site.current_version)
            files = _chosen_files(None, html, css, js, settings.file_limits, current=current)
        version = container.sites.publish(slug, files, cause=cause)
    output.say(Text("Published version ") + Text(str(version.number), style="bold") + Text(f" of {slug}."))
    output.say(f"  {site_url(settings, slug)}")


@app.command()
def files(
    slug: Slug,
    version: Annotated[
        int | None,
        typer.Option("--version", "-v", min=1, help="Which version.", show_default="the current one"),
    ] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """List the files of a site's version: path, size, type.

    With `--json`, prints an object with `slug`, `version` and `files`: an array of
    `path`, `size` (bytes), `content_type` and `digest` (SHA-256 of the file as uploaded).
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        site, found = container.sites.files_of(slug, version)
    if as_json:
        output.print_json(
            {
                "slug": site.slug,
                "version": found.number,
                "files": [
                    {"path": f.path, "size": f.size, "content_type": f.content_type, "digest": f.digest}
                    for f in found.files
                ],
            }
        )
        return
    grid = output.table("Path", "Size", "Type", "Digest", title=f"{site.slug}, version {found.number}")
    grid.columns[1].justify = "right"
    for f in found.files:
        grid.add_row(Text(f.path), f"{f.size:,}", f.content_type.split(";")[0], f.digest[:12])
    output.print_table(grid)
    output.say(f"{output.plural(len(found.files), 'file')}, {found.size:,} bytes", style="dim")


@app.command()
def archive(
    slug: Slug,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Archive a site: it stops being served (`404`, like an unknown address).

    Its live subscription is cancelled at the provider (no more charges; an anomaly says
    what was paid for the current period), open checkouts are closed and the owner is
    mailed. Its versions and history are kept.
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    with services(settings) as container:
        details = _live_details(container.sites, slug, if_archived=" already")
        if not yes and not typer.confirm(
            f"Archive {slug} ({details.site.business_name})? It will answer 404 from now on", default=False
        ):
            output.say("Nothing changed.")
            raise typer.Exit(1)
        result = container.archiver.archive(slug, cause="archived from the CLI")
    output.say(Text("Archived ") + Text(slug, style="bold") + Text("."))
    for provider_id in result.cancelled:
        output.say(
            f"Subscription {provider_id} cancelled at the provider (see `webmagic payments anomalies`)."
        )
    for provider_id in result.not_cancelled:
        output.say(
            f"Subscription {provider_id} could not be cancelled at the provider yet; "
            "`webmagic lifecycle sweep` retries.",
            style="yellow",
        )
