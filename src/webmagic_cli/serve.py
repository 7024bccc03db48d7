"""``webmagic serve``: migrate, optionally load the demo sites, and run the web app."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.text import Text

from webmagic_adapters.bootstrap import Settings, uvicorn_log_config
from webmagic_cli import output
from webmagic_cli.db import upgrade_schema
from webmagic_cli.demo import load_demo
from webmagic_cli.errors import EXIT_REFUSED, UsageProblem
from webmagic_cli.options import SETTINGS_PANEL, DatabaseUrl, DataDir, services, settings_from

if TYPE_CHECKING:
    import uvicorn

# The CLI never imports the web package; uvicorn does, in the server process(es).
APP = "webmagic_http.app:create_app"
PACKAGES = ("webmagic_core", "webmagic_adapters", "webmagic_http", "webmagic_cli")
UVICORN_LOG_LEVELS = {"critical", "error", "warning", "info", "debug", "trace"}


def local_url(host: str, port: int) -> str:
    """The address to open in a browser for a server bound to ``host``."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - naming the wildcard, not binding to it
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def export_settings(settings: Settings) -> None:
    """Hand the settings given as options to the app, which reads them from the environment."""
    os.environ["WEBMAGIC_DATA_DIR"] = str(settings.data_dir.absolute())
    os.environ["WEBMAGIC_PUBLIC_URL"] = settings.public_url
    if settings.database_url:
        os.environ["WEBMAGIC_DATABASE_URL"] = settings.database_url


def describe_mail(settings: Settings) -> str:
    if settings.smtp_url is None:
        return (
            f"Mail is written as .eml files to {settings.mail_dir.absolute()} (WEBMAGIC_SMTP_URL is not set)."
        )
    parts = urlsplit(settings.smtp_url.get_secret_value())
    where = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return f"Mail is sent through the SMTP server at {where}."


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 listens on every interface.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo sites first (those not there yet).")
    ] = False,
    reload: Annotated[
        bool, typer.Option("--reload", help="Restart when the code changes (for development).")
    ] = False,
    workers: Annotated[int, typer.Option(help="Number of worker processes.", min=1)] = 1,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            envvar="WEBMAGIC_PUBLIC_URL",
            help="Where people reach the app, used in links and emails.",
            show_default="http://HOST:PORT",
            rich_help_panel=SETTINGS_PANEL,
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Run the web app: hosting, API and webhooks.

    Applies the database migrations first. With no settings at all it runs on the embedded
    defaults: a SQLite file in `./webmagic-data`, sandbox payments, mail written to files.

    Example: `webmagic serve --demo`, then open the URLs it prints.
    """
    if reload and workers > 1:
        raise UsageProblem("--reload and --workers cannot be combined")
    settings = settings_from(
        database_url=database_url,
        data_dir=data_dir,
        public_url=public_url or None,
    )
    if "public_url" not in settings.model_fields_set:
        # Nothing configured: links should point at this very server.
        settings = settings_from(
            database_url=database_url, data_dir=data_dir, public_url=local_url(host, port)
        )

    with services(settings, require_schema=False) as container:
        output.say(Text("Database: ") + Text(container.database.url_for_display, style="bold"))
        before, after = upgrade_schema(container.database, container.banner)
        if before != after:
            output.say(f"Applied migrations up to revision {after}.")
    if demo:
        output.say("Demo sites:")
        load_demo(settings)
    output.say(describe_mail(settings))

    def announce() -> None:
        output.say(
            Text("Serving at ") + Text(local_url(host, port), style="bold green") + Text("  (Ctrl+C to stop)")
        )

    export_settings(settings)
    level = settings.log_level.lower()
    started = run_server(
        APP,
        ServerOptions(
            host=host,
            port=port,
            reload=reload,
            workers=workers,
            log_level=level if level in UVICORN_LOG_LEVELS else "info",
            log_format=settings.log_format.value,
        ),
        on_listening=announce,
    )
    if not started:
        output.fail(f"the server could not start on {host}:{port} (see the line above)", code=EXIT_REFUSED)


@dataclass(frozen=True)
class ServerOptions:
    """How the ASGI server runs: the one set of knobs ``server_config`` turns into uvicorn's."""

    host: str
    port: int
    reload: bool = False
    workers: int = 1
    log_level: str = "info"
    log_format: str = "text"


def server_config(app: str, options: ServerOptions) -> uvicorn.Config:
    """The ASGI server's settings for the app factory named ``app`` (``module:function``)."""
    import uvicorn

    root = Path(__file__).resolve().parents[1]
    return uvicorn.Config(
        app,
        factory=True,
        host=options.host,
        port=options.port,
        reload=options.reload,
        reload_dirs=[str(root / name) for name in PACKAGES if (root / name).is_dir()]
        if options.reload
        else None,
        workers=None if options.reload else options.workers,
        log_level=options.log_level,
        log_config=uvicorn_log_config(options.log_format, options.log_level),
    )


def run_server(app: str, options: ServerOptions, *, on_listening: Callable[[], None] | None = None) -> bool:
    """Serve the ASGI app factory named ``app`` (``module:function``) until interrupted.

    The one place the ASGI server and its settings are chosen; benchmarks/hosting.py runs
    its bare comparison app through here too, so both get the same server. It does what
    ``uvicorn.run`` does, plus ``on_listening``: called once the socket accepts connections
    (with one worker, after the app has started too), so "Serving at ..." is never printed
    for a port that turns out to be taken. Returns False when the server could not start.
    """
    import uvicorn  # only the serve command needs it
    from uvicorn.supervisors import ChangeReload, Multiprocess

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and on_listening is not None and sockets is None:
                on_listening()

    config = server_config(app, options)
    server = Server(config=config)
    try:
        if config.should_reload or config.workers > 1:
            sock = config.bind_socket()
            if on_listening is not None:
                on_listening()
            if config.should_reload:
                ChangeReload(config, target=server.run, sockets=[sock]).run()
            else:
                Multiprocess(config, sockets=[sock]).run()
            return True
        server.run()
    except SystemExit:  # uvicorn has logged why (address in use, permission, the app failed...)
        return False
    except KeyboardInterrupt:
        pass
    return server.started or config.should_reload or config.workers > 1
