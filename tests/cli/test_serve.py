"""``webmagic serve`` in-process, with ``run_server`` replaced by a recorder of the server's
settings (the real server runs in tests/cli/test_installed_script.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import Result

from webmagic_cli import serve

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records each server start: the uvicorn settings and the WEBMAGIC_* environment the app
    would see; the server "listens" at once."""
    calls: list[dict[str, Any]] = []

    def fake_run(app: str, options: serve.ServerOptions, *, on_listening: Any = None) -> bool:
        config = serve.server_config(app, options)
        env = {k: v for k, v in os.environ.items() if k.startswith("WEBMAGIC_")}
        calls.append(
            {
                "app": config.app,
                "env": env,
                "factory": config.factory,
                "host": config.host,
                "port": config.port,
                "reload": config.reload,
                "reload_dirs": config.reload_dirs if config.reload else None,
                "workers": None if config.reload else config.workers,
            }
        )
        if on_listening is not None:
            on_listening()
        return True

    monkeypatch.setattr(serve, "run_server", fake_run)
    # uvicorn.Config configures logging when made: not in this process's tests.
    monkeypatch.setattr(uvicorn.Config, "configure_logging", lambda _self: None)
    return calls


def test_serve_migrates_loads_the_demo_and_hands_settings_to_the_app(
    invoke: Invoke, uvicorn_calls: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBMAGIC_DATA_DIR")
    monkeypatch.delenv("WEBMAGIC_DATABASE_URL")
    other_db = f"sqlite:///{(tmp_path / 'served.db').as_posix()}"
    (tmp_path / "served.db").touch()  # an empty SQLite database: serve migrates it

    result = invoke(
        "serve", "--port", "8123", "--demo", "--database-url", other_db, "--data-dir", "relative-data"
    )

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Upgraded" not in out  # that wording belongs to `db upgrade`
    assert "Applied migrations up to revision" in out
    assert "http://127.0.0.1:8123/sunrise-bakery  (loaded)" in out
    assert f"Mail is written as .eml files to {tmp_path / 'relative-data' / 'mail'}" in out
    assert "Serving at http://127.0.0.1:8123" in out
    [call] = uvicorn_calls
    assert call["app"] == "webmagic_http.app:create_app"
    assert call["factory"] is True
    assert (call["host"], call["port"], call["reload"], call["workers"]) == ("127.0.0.1", 8123, False, 1)
    assert call["env"] == {
        "WEBMAGIC_DATABASE_URL": other_db,
        "WEBMAGIC_DATA_DIR": str(tmp_path / "relative-data"),
        "WEBMAGIC_PUBLIC_URL": "http://127.0.0.1:8123",
    }


def test_serve_again_finds_everything_in_place(
    invoke: Invoke, uvicorn_calls: list[dict[str, Any]], migrated: None
) -> None:
    assert invoke("serve", "--demo").exit_code == 0

    result = invoke("serve", "--demo", "--host", "0.0.0.0", "--workers", "3")

    assert result.exit_code == 0, result.output
    assert "Applied migrations" not in result.stdout
    assert "http://127.0.0.1:8000/sunrise-bakery  (already there)" in result.stdout
    assert (uvicorn_calls[-1]["host"], uvicorn_calls[-1]["workers"]) == ("0.0.0.0", 3)


def test_serve_keeps_a_configured_public_url(
    invoke: Invoke, uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, migrated: None
) -> None:
    monkeypatch.setenv("WEBMAGIC_PUBLIC_URL", "https://sites.example.com")

    result = invoke("serve", "--port", "9000", "--demo")

    assert result.exit_code == 0, result.output
    assert "https://sites.example.com/sunrise-bakery" in result.stdout
    assert uvicorn_calls[0]["env"]["WEBMAGIC_PUBLIC_URL"] == "https://sites.example.com"


def test_serve_reload_watches_the_packages(
    invoke: Invoke, uvicorn_calls: list[dict[str, Any]], migrated: None
) -> None:
    result = invoke("serve", "--reload")

    assert result.exit_code == 0, result.output
    [call] = uvicorn_calls
    assert call["reload"] is True
    assert call["workers"] is None
    assert {Path(d).name for d in call["reload_dirs"]} >= {"webmagic_cli", "webmagic_http"}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--reload", "--workers", "2"), {}, "--reload and --workers cannot be combined"),
        (
            (),
            {
                "WEBMAGIC_PAYMENTS": "recurrente",
                "WEBMAGIC_SECRET_KEY": "s" * 32,
                "WEBMAGIC_RECURRENTE_SECRET_KEY": "sk_test_x",
                "WEBMAGIC_RECURRENTE_WEBHOOK_SECRET": "whsec_a2V5",
            },
            "WEBMAGIC_RECURRENTE_PUBLIC_KEY is required",
        ),
        (("--public-url", "not-a-url"), {}, "WEBMAGIC_PUBLIC_URL"),
        (("--database-url", "mongodb://x/y"), {}, "unsupported database 'mongodb'"),
    ],
)
def test_serve_refuses_bad_settings_before_starting(
    invoke: Invoke,
    uvicorn_calls: list[dict[str, Any]],
    error_line: ErrorLine,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = invoke("serve", *args)

    assert result.exit_code == 2
    assert message in error_line(result)
    assert uvicorn_calls == []


def test_serve_bad_port_is_a_usage_error(invoke: Invoke, uvicorn_calls: list[dict[str, Any]]) -> None:
    result = invoke("serve", "--port", "70000")

    assert result.exit_code == 2
    assert uvicorn_calls == []
