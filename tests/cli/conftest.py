"""Fixtures for the CLI tests: a private data folder and SQLite file per test.

Helpers are handed out as fixtures (``write_site``, ``error_line``, ...) so that the test
modules import nothing from this file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_payments_support import Shop, open_shop
from typer.testing import CliRunner, Result

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_cli.main import app
from webmagic_core.services.sites import SiteService

Invoke = Callable[..., Result]

PAGE = "<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"


@pytest.fixture(autouse=True)
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Only this test's settings: no WEBMAGIC_* from outside, no .env from the work tree."""
    for name in list(os.environ):
        if name.startswith("WEBMAGIC_"):
            monkeypatch.delenv(name)
    # Registered so that what ``serve`` exports is undone after the test.
    for name in ("WEBMAGIC_PUBLIC_URL", "WEBMAGIC_DATABASE_URL", "WEBMAGIC_DATA_DIR"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables on one line each
    env = {
        "WEBMAGIC_DATA_DIR": str(tmp_path / "data"),
        "WEBMAGIC_DATABASE_URL": f"sqlite:///{(tmp_path / 'cli.db').as_posix()}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def invoke() -> Invoke:
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return run


@pytest.fixture
def migrated(invoke: Invoke) -> None:
    result = invoke("db", "upgrade", "--create")
    assert result.exit_code == 0, result.output


@pytest.fixture
def service(migrated: None) -> Iterator[SiteService]:
    """The site service on the same database, to check what the commands left behind."""
    container = bootstrap(load_settings())
    try:
        yield container.sites
    finally:
        container.close()


@pytest.fixture
def shop(migrated: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    """The payment services on the test's database, with a fake clock and gateway that the
    commands under test share (see cli_payments_support)."""
    with open_shop(monkeypatch) as shop:
        yield shop


@pytest.fixture
def slugs(service: SiteService) -> Callable[[], list[str]]:
    """The slugs in the database, sorted."""
    return lambda: [site.slug for site in service.list_sites()]


@pytest.fixture(name="write_site")
def write_site_fixture() -> Callable[..., Path]:
    return write_site


def write_site(
    root: Path,
    slug: str,
    *,
    html: str | bytes | None = None,
    css: str | None = None,
    js: str | None = None,
    meta: tuple[str, str] | None = None,
) -> Path:
    """A site folder; ``html=None`` writes a page titled after the slug."""
    folder = root / slug
    folder.mkdir(parents=True)
    page = PAGE.format(title=f"{slug} title") if html is None else html
    (folder / "index.html").write_bytes(page if isinstance(page, bytes) else page.encode())
    if css is not None:
        (folder / "styles.css").write_text(css, encoding="utf-8")
    if js is not None:
        (folder / "app.js").write_text(js, encoding="utf-8")
    if meta is not None:
        (folder / meta[0]).write_text(meta[1], encoding="utf-8")
    return folder


@pytest.fixture
def error_line() -> Callable[[Result], str]:
    return one_error_line


def one_error_line(result: Result) -> str:
    """The single line a failed command prints on stderr (and no traceback anywhere)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture
def listed(invoke: Invoke) -> Callable[..., list[dict[str, Any]]]:
    """``sites list --json`` with extra arguments, parsed."""

    def run(*args: str) -> list[dict[str, Any]]:
        result = invoke("sites", "list", "--json", *args)
        assert result.exit_code == 0, result.output
        data: list[dict[str, Any]] = json.loads(result.stdout)
        return data

    return run
