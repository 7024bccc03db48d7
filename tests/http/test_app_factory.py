"""``create_app``: bootstraps from the environment when given nothing, owns what it makes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_http.app import create_app


def test_without_a_container_it_bootstraps_from_the_environment_and_closes_on_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBMAGIC_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("WEBMAGIC_SITE_PRICE_CENTS", "777")
    closed: list[Container] = []
    original_close = Container.close

    def recording_close(self: Container) -> None:
        closed.append(self)
        original_close(self)

    monkeypatch.setattr(Container, "close", recording_close)

    app = create_app()
    container = app.state.container
    assert container.settings.site_price_cents == 777
    container.database.upgrade()
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/no-such-site").status_code == 404
        assert closed == []
    assert closed == [container]
    assert (tmp_path / "env-data" / "webmagic.db").exists()


def test_a_container_passed_in_stays_open(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[Container] = []
    monkeypatch.setattr(Container, "close", lambda self: closed.append(self))
    with TestClient(create_app(container)) as client:
        assert client.get("/healthz").status_code == 200
    assert closed == []


def test_importing_the_http_package_does_no_work(tmp_path: Path) -> None:
    modules = ["app", "hosting", "health", "hosts", "page_cache", "problems", "render", "site_info"]
    code = "".join(f"import webmagic_http.{name}\n" for name in modules) + (
        "import sys\n"
        "assert 'sqlalchemy' not in sys.modules or not any(\n"
        "    type(o).__name__ == 'Engine' for o in __import__('gc').get_objects()), 'an engine exists'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "WEBMAGIC_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []  # no data folder, no database file
