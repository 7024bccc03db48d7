"""``webmagic publish``: static publishing (WEBMAGIC_PUBLISH_DIR) -- rebuild the folder,
print the nginx or Caddy configuration that serves it in front of the app."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from webmagic_adapters.bootstrap import (
    FolderPublisher,
    Front,
    FrontConfigError,
    PublishFolderError,
    Settings,
    caddyfile,
    nginx_config,
)
from webmagic_cli import output
from webmagic_cli.errors import UsageProblem
from webmagic_cli.options import DatabaseUrl, DataDir, services, settings_from
from webmagic_core.errors import TransientError
from webmagic_core.ports import Clock
from webmagic_core.services.publishing import PublishingWorker, PublishReport

app = typer.Typer(
    name="publish",
    help="Static publishing: write every site to WEBMAGIC_PUBLISH_DIR, print nginx or Caddy configs.",
    no_args_is_help=True,
)

Listen = Annotated[str, typer.Option("--listen", help="HOST:PORT the front server listens on.")]
Upstream = Annotated[str, typer.Option("--upstream", help="HOST:PORT where `webmagic serve` listens.")]
Folder = Annotated[
    Path | None,
    typer.Option("--dir", help="The published folder (default: WEBMAGIC_PUBLISH_DIR).", show_default=False),
]


def _folder(settings: Settings, given: Path | None) -> Path:
    folder = given or settings.publish_dir
    if folder is None:
        raise UsageProblem(
            "WEBMAGIC_PUBLISH_DIR is not set (or pass --dir): there is no folder to publish to"
        )
    return folder


@app.command("all")
def publish_all(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Write every site's files to WEBMAGIC_PUBLISH_DIR again and remove what should not
    be there (a site since suspended or archived, a domain since removed, leftovers).

    Safe while the server runs: each site is swapped atomically. Run it after turning
    publishing on, after restoring a backup, or after a change of price (the banner).

    Example: `WEBMAGIC_PUBLISH_DIR=/srv/webmagic/published webmagic publish all`
    """
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    _folder(settings, None)
    with services(settings) as container:
        worker = container.publishing
        assert worker is not None  # set whenever WEBMAGIC_PUBLISH_DIR is
        publisher = worker.publisher
        if isinstance(publisher, FolderPublisher):
            try:
                publisher.ensure()
            except PublishFolderError as error:
                raise UsageProblem(str(error)) from None
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=output.err_console(),
            transient=True,
        )
        with progress:
            task = progress.add_task("Publishing", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            if isinstance(publisher, FolderPublisher):
                with publisher.synced_at_the_end():
                    report = worker.rebuild(progress=advance)
            else:
                report = worker.rebuild(progress=advance)
        garbage = publisher.collect_garbage() if isinstance(publisher, FolderPublisher) else 0
    strays = output.plural(report.strays + garbage, "stray entry", "stray entries")
    output.say(
        f"{output.plural(report.published, 'site')} published, {report.withdrawn} without files "
        f"(suspended or archived), {strays} removed, in {settings.publish_dir}."
    )


def _front(settings: Settings, upstream: str, folder: Path | None) -> Front:
    try:
        return Front.of(
            _folder(settings, folder),
            upstream,
            public_url=settings.public_url,
            sites_host=settings.sites_host,
        )
    except FrontConfigError as error:
        raise UsageProblem(str(error)) from None


@app.command("nginx-config")
def nginx_config_command(
    listen: Listen,
    upstream: Upstream,
    folder: Folder = None,
) -> None:
    """Print an nginx configuration serving the published folder, and the app for
    everything else (the API, the portal, sites without files: suspended 503, unknown 404).

    Example: `webmagic publish nginx-config --listen 0.0.0.0:80 --upstream 127.0.0.1:8000 >
    /etc/nginx/conf.d/webmagic.conf && nginx -t && nginx -s reload`
    """
    settings = settings_from(database_url=None, data_dir=None)
    try:
        sys.stdout.write(nginx_config(_front(settings, upstream, folder), listen))
    except FrontConfigError as error:
        raise UsageProblem(str(error)) from None


@app.command("caddyfile")
def caddyfile_command(
    upstream: Upstream,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen", help="Serve plain HTTP on HOST:PORT (default: HTTPS on 443, certificates by Caddy)."
        ),
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="The ACME account's email.")] = None,
    folder: Folder = None,
) -> None:
    """Print a Caddyfile serving the published folder, with on-demand TLS for custom
    domains (Caddy asks the app's /internal/tls/ask before getting a certificate).

    Example: `webmagic publish caddyfile --upstream 127.0.0.1:8000 --email ops@example.com >
    /etc/caddy/Caddyfile && caddy reload --config /etc/caddy/Caddyfile`
    """
    settings = settings_from(database_url=None, data_dir=None)
    try:
        sys.stdout.write(caddyfile(_front(settings, upstream, folder), email=email, listen=listen))
    except FrontConfigError as error:
        raise UsageProblem(str(error)) from None


def publish_loop(
    worker: PublishingWorker,
    clock: Clock,
    *,
    stop: threading.Event,
    interval: float,
) -> PublishReport:
    """``run_once`` until ``stop`` is set (the relay's companion: ``webmagic outbox relay``
    publishes too when WEBMAGIC_PUBLISH_DIR is set)."""
    total = PublishReport()
    while not stop.is_set():
        try:
            report = worker.run_once()
        except TransientError as error:
            output.say(
                f"{output.when(clock.now())}  publishing: {error.detail}; trying again in {interval:g} s"
            )
            stop.wait(interval)
            continue
        total += report
        if report.handled:
            output.say(
                f"{output.when(clock.now())}  published {report.published}, without files "
                f"{report.withdrawn}, failed {report.failed}"
            )
        if report.handled < worker.batch_size:
            stop.wait(interval)
    return total
