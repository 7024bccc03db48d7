"""The root command, ``db``, ``demo`` and the error boundary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.demo import DEMO_SLUGS
from webmagic_adapters.settings import load_settings
from webmagic_core.services.sites import SiteService

Invoke = Callable[..., Result]
Listed = Callable[..., list[dict[str, Any]]]
ErrorLine = Callable[[Result], str]

DEMO_NAMES = {
    "brightsmile-dental": "BrightSmile Dental Studio",
    "rapidflow-plumbing": "RapidFlow Plumbing",
    "sunrise-bakery": "Sunrise Bakery",
}


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ((), "host the sites WebMagic sells"),
        (("serve",), "Run the web app"),
        (("demo",), "Load the demo sites"),
        (("db",), "The database: schema, backups"),
        (("db", "upgrade"), "Apply the database migrations"),
        (("sites",), "Create, import, list"),
        (("sites", "create"), "Create a preview site from a folder"),
        (("sites", "import"), "one sub-folder per site"),
        (("sites", "list"), "List sites"),
        (("sites", "show"), "timeline"),
        (("sites", "publish"), "Publish a new version"),
        (("sites", "archive"), "Archive a site"),
    ],
)
def test_every_command_has_help(invoke: Invoke, command: tuple[str, ...], expected: str) -> None:
    result = invoke(*command, "--help")

    assert result.exit_code == 0, result.output
    assert expected in result.stdout
    assert "Usage: webmagic" in result.stdout


def test_settings_options_show_their_environment_variables(invoke: Invoke) -> None:
    out = invoke("sites", "list", "--help").stdout

    assert "WEBMAGIC_DATABASE_URL" in out
    assert "WEBMAGIC_DATA_DIR" in out


def test_no_arguments_shows_help(invoke: Invoke) -> None:
    result = invoke()

    assert "Usage: webmagic" in result.output
    assert "sites" in result.output


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(invoke: Invoke, flag: str) -> None:
    result = invoke(flag)

    assert result.exit_code == 0
    assert result.stdout.startswith("webmagic 0.")


def test_unknown_command_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("sits", "list")

    assert result.exit_code == 2
    assert "sits" in result.stderr


def test_db_upgrade_is_repeatable(invoke: Invoke, tmp_path: Path) -> None:
    first = invoke("db", "upgrade", "--create")
    assert first.exit_code == 0, first.output
    assert f"sqlite+pysqlite:///{tmp_path.as_posix()}/cli.db" in first.stdout
    assert "Upgraded from an empty database to revision" in first.stdout

    again = invoke("db", "upgrade")
    assert again.exit_code == 0, again.output
    assert "Already up to date" in again.stdout


def test_db_upgrade_creates_the_default_sqlite_file_in_the_data_dir(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBMAGIC_DATABASE_URL")

    result = invoke("db", "upgrade", "--data-dir", str(tmp_path / "elsewhere"))

    assert result.exit_code == 0, result.output
    assert (tmp_path / "elsewhere" / "webmagic.db").is_file()


def test_db_upgrade_hides_the_password(invoke: Invoke, error_line: ErrorLine) -> None:
    result = invoke("db", "upgrade", "--database-url", "postgresql://admin:hunter2@127.0.0.1:1/db")

    assert result.exit_code == 1
    assert "postgresql+psycopg://admin:***@127.0.0.1:1/db" in result.stdout
    assert "the database is unavailable" in error_line(result)
    assert "hunter2" not in result.output


def test_commands_need_the_schema_first(invoke: Invoke, error_line: ErrorLine, tmp_path: Path) -> None:
    result = invoke("sites", "list")

    assert result.exit_code == 2
    assert "`webmagic db upgrade --create`" in error_line(result)
    assert not (tmp_path / "cli.db").exists()  # a mistyped path never becomes an empty database

    (tmp_path / "cli.db").touch()  # a file, but not a WebMagic database yet
    result = invoke("sites", "list")
    assert result.exit_code == 2
    assert "run `webmagic db upgrade` first" in error_line(result)


@pytest.mark.parametrize("command", [("sites", "list"), ("serve",), ("demo",), ("db", "upgrade")])
def test_a_mistyped_sqlite_path_creates_nothing(
    invoke: Invoke, error_line: ErrorLine, tmp_path: Path, command: tuple[str, ...]
) -> None:
    typo = tmp_path / "no-such-folder" / "webmagic.db"

    result = invoke(*command, "--database-url", f"sqlite:///{typo.as_posix()}")

    assert result.exit_code == 2
    assert f"the folder {typo.parent} of the SQLite database does not exist" in error_line(result)
    assert not typo.parent.exists()
    missing = tmp_path / "webmagc.db"
    result = invoke(*command, "--database-url", f"sqlite:///{missing.as_posix()}")
    assert result.exit_code == 2
    assert f"there is no SQLite database at {missing}" in error_line(result)
    assert not missing.exists()


def test_db_upgrade_create_starts_a_new_database(invoke: Invoke, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    result = invoke("db", "upgrade", "--create", "--database-url", f"sqlite:///{fresh.as_posix()}")
    assert result.exit_code == 0, result.output
    assert fresh.is_file()
    assert invoke("sites", "list", "--database-url", f"sqlite:///{fresh.as_posix()}").exit_code == 0


@pytest.mark.postgres
def test_a_postgresql_database_that_does_not_exist_says_so(
    invoke: Invoke, error_line: ErrorLine, postgres_server: str
) -> None:
    from sqlalchemy import make_url

    missing = make_url(postgres_server).set(database="no_such_database_here")
    url = missing.render_as_string(hide_password=False)
    result = invoke("db", "upgrade", "--database-url", url)
    assert result.exit_code == 1
    line = error_line(result)
    assert "the PostgreSQL database 'no_such_database_here' does not exist" in line
    assert "try again" not in line


def test_demo_loads_the_sites_once(invoke: Invoke, listed: Listed, migrated: None) -> None:
    first = invoke("demo")
    assert first.exit_code == 0, first.output
    for slug in DEMO_SLUGS:
        assert f"http://127.0.0.1:8000/{slug}  (loaded)" in first.stdout

    second = invoke("demo")
    assert second.exit_code == 0, second.output
    for slug in DEMO_SLUGS:
        assert f"http://127.0.0.1:8000/{slug}  (already there)" in second.stdout

    sites = listed()
    assert {s["slug"]: s["business_name"] for s in sites} == DEMO_NAMES
    assert {s["status"] for s in sites} == {"preview"}
    assert {s["current_version"] for s in sites} == {1}


def test_demo_sites_have_working_assets(invoke: Invoke, migrated: None) -> None:
    assert invoke("demo").exit_code == 0
    container = bootstrap(load_settings())
    try:
        for slug in DEMO_SLUGS:
            site = container.sites.details(slug).site
            texts = container.sites.text_files(site.id, 1)
            # Relative links, so that the pages work wherever hosting mounts them.
            assert 'href="styles.css"' in texts["index.html"]
            assert 'src="app.js"' in texts["index.html"]
            assert len(texts["styles.css"]) > 1000
            assert "addEventListener" in texts["app.js"]
    finally:
        container.close()


def test_unexpected_errors_keep_their_traceback(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("db", "upgrade", "--create")

    def broken(self: SiteService, **_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(SiteService, "list_sites", broken)

    result = invoke("sites", "list")

    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
    assert "Error: " not in result.stderr


@pytest.mark.postgres
def test_sites_on_postgresql(invoke: Invoke, listed: Listed, postgres_url: str, tmp_path: Path) -> None:
    assert invoke("db", "upgrade", "--database-url", postgres_url).exit_code == 0
    root = tmp_path / "batch"
    (root / "pg-bakery").mkdir(parents=True)
    (root / "pg-bakery" / "index.html").write_text("<title>PG Bakery</title><p>hi</p>", encoding="utf-8")
    (root / "Bad_Slug").mkdir()
    (root / "Bad_Slug" / "index.html").write_text("<p>x</p>", encoding="utf-8")

    result = invoke("sites", "import", "--database-url", postgres_url, str(root))

    assert result.exit_code == 1
    assert "1 site imported, 1 failed." in result.stdout
    assert [(s["slug"], s["business_name"]) for s in listed("--database-url", postgres_url)] == [
        ("pg-bakery", "PG Bakery")
    ]


def _all_commands() -> list[tuple[str, ...]]:
    import typer.main

    from webmagic_cli.main import app

    found: list[tuple[str, ...]] = [()]

    def walk(command: Any, path: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            found.append((*path, name))
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


@pytest.mark.parametrize("command", _all_commands(), ids=lambda c: " ".join(c) or "webmagic")
def test_flags_show_as_flags_in_every_help(invoke: Invoke, command: tuple[str, ...]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    assert "--help" in result.stdout
