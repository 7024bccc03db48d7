"""``/healthz`` and ``/readyz``."""

from __future__ import annotations

import socket
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_http.app import create_app

Client = TestClient[Litestar]


def test_healthz(client: Client) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_when_the_database_answers(client: Client) -> None:
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the socket is


def test_readyz_is_503_when_postgresql_is_unreachable(tmp_path: Path) -> None:
    url = f"postgresql://webmagic:s3cret-pw@127.0.0.1:{_closed_port()}/webmagic"
    container = bootstrap(load_settings(data_dir=tmp_path, database_url=url))
    try:
        with TestClient(create_app(container)) as client:
            assert client.get("/healthz").status_code == 200
            response = client.get("/readyz")
    finally:
        container.close()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 503
    assert "database" in body["detail"]
    assert "s3cret-pw" not in response.text


def test_readyz_is_503_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    # The database path names a folder: SQLite cannot open it.
    (tmp_path / "db-is-a-folder").mkdir()
    container = bootstrap(
        load_settings(data_dir=tmp_path, database_url=f"sqlite:///{(tmp_path / 'db-is-a-folder').as_posix()}")
    )
    try:
        with TestClient(create_app(container)) as client:
            response = client.get("/readyz")
    finally:
        container.close()
    assert response.status_code == 503
    assert response.json()["status"] == 503


def test_readyz_is_503_when_the_database_cannot_be_written(tmp_path: Path) -> None:
    container = bootstrap(load_settings(data_dir=tmp_path))  # never migrated: reads work, writes cannot
    try:
        with TestClient(create_app(container)) as client:
            response = client.get("/readyz")
            assert response.status_code == 503
            assert "cannot be written" in response.json()["detail"]
            container.database.upgrade()
            assert client.get("/readyz").status_code == 200
    finally:
        container.close()
