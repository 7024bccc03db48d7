"""Options shared by several commands, and opening the services they configure."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from webmagic_adapters.bootstrap import (
    Container,
    Settings,
    bootstrap,
    load_settings,
    sqlite_file_problem,
    translating_errors,
)
from webmagic_cli.errors import UsageProblem

SETTINGS_PANEL = "Settings"

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="WEBMAGIC_DATABASE_URL",
        help="Database to use: sqlite:///path/file.db or postgresql://user@host/db.",
        show_default="webmagic.db in the data folder",
        rich_help_panel=SETTINGS_PANEL,
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="WEBMAGIC_DATA_DIR",
        help="Local data folder (SQLite file, generated secret key, mail).",
        show_default="./webmagic-data",
        file_okay=False,
        rich_help_panel=SETTINGS_PANEL,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def only(what: str, choices: type[enum.Enum], *flags: str, metavar: str = "STATUS") -> Any:
    """A list filter option on an enum, e.g. ``only("sites in this status", SiteStatus)``
    (``--status``/``-s`` unless ``flags`` are given)."""
    return typer.Option(
        *(flags or ("--status", "-s")),
        help=f"Only {what}: {', '.join(str(choice.value) for choice in choices)}.",
        metavar=metavar,
        case_sensitive=False,
    )


# How many of the newest records a short id is looked for in (tables show the newest first).
SHORT_ID_SEARCH = 10_000
_SHORT_ID = re.compile(r"[0-9a-f]{4,32}")


def looks_like_short_id(value: str) -> bool:
    return _SHORT_ID.fullmatch(value.strip().lower().replace("-", "")) is not None


def resolve_id(
    value: str, what: str, listing: str, candidates: Callable[[], Iterable[uuid.UUID]]
) -> uuid.UUID:
    """A full id, or the first characters of one as tables show them (8; at least 4)."""
    text = value.strip().lower()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    compact = text.replace("-", "")
    if not _SHORT_ID.fullmatch(compact):
        raise UsageProblem(f"{value!r} is not {what} id (ids look like `{listing}` shows them)")
    matches = [found for found in candidates() if found.hex.startswith(compact)]
    if not matches:
        raise UsageProblem(f"no {what.split(' ', 1)[-1]} id starts with {value.strip()!r} (see `{listing}`)")
    if len(matches) > 1:
        raise UsageProblem(
            f"{len(matches)} ids start with {value.strip()!r}: give more of the id (`{listing} --json` "
            "shows them in full)"
        )
    return matches[0]


def settings_from(*, database_url: str | None, data_dir: Path | None, **more: Any) -> Settings:
    """Settings from the environment, with the values given on the command line on top."""
    overrides = {"database_url": database_url, "data_dir": data_dir, **more}
    return load_settings(**{key: value for key, value in overrides.items() if value is not None})


@contextmanager
def services(settings: Settings, *, require_schema: bool = True, create: bool = False) -> Iterator[Container]:
    """The wired services for one command; the engine is disposed of on the way out.

    A database URL that was given (not the default file in the data folder) must name an
    existing SQLite file unless ``create``: see ``sqlite_file_problem``."""
    if settings.database_url is not None:
        problem = sqlite_file_problem(settings.database_url, create=create)
        if problem is not None:
            raise UsageProblem(problem)
    container = bootstrap(settings)
    try:
        if require_schema and _current_revision(container) is None:
            raise UsageProblem(
                f"the database {container.database.url_for_display} has no WebMagic tables yet; "
                "run `webmagic db upgrade` first"
            )
        yield container
    finally:
        container.close()


def _current_revision(container: Container) -> str | None:
    with translating_errors():
        return container.database.current_revision()


def site_url(settings: Settings, slug: str) -> str:
    return f"{settings.resolved_sites_base_url}/{slug}"
