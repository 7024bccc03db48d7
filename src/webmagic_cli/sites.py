"""``webmagic sites ...``: create, import, list, show, publish and archive sites."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from webmagic_adapters.bootstrap import (
    HTML_FILE,
    ImportResult,
    Outcome,
    import_site_folder,
    site_folders,
)
from webmagic_cli import output
from webmagic_cli.errors import UsageProblem
from webmagic_cli.options import DatabaseUrl, DataDir, Json, only, services, settings_from, site_url
from webmagic_cli.site_details import (
    owner_email_of,
    print_details,
    print_details_json,
    print_import_result,
    print_sites,
    site_json,
)
from webmagic_cli.site_input import chosen_files
from webmagic_core.errors import Conflict
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.services.sites import SiteDetails, SiteService
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
    files = chosen_files(directory, html, css, js, settings.file_limits)
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
        print_import_result(settings, result)
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
        output.print_json([site_json(settings, site) for site in sites])
        return
    if not sites:
        output.say(
            f"No {status.value} sites."
            if status
            else "No sites yet: add some with `webmagic sites import DIR`."
        )
        return
    print_sites(settings, sites)


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
        owner_email = owner_email_of(container, details.site)
    if as_json:
        print_details_json(settings, details, timeline, owner_email)
    else:
        print_details(settings, details, timeline, owner_email)


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
        files = chosen_files(directory, html, css, js, settings.file_limits)
    with services(settings) as container:
        details = _live_details(container.sites, slug, if_archived="")
        if directory is None:
            _, current = container.sites.version_files(details.site.id, details.site.current_version)
            files = chosen_files(None, html, css, js, settings.file_limits, current=current)
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
