"""``webmagic db backup`` / ``db restore``: consistent copies of a database that is in use."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_payments_support import Shop
from litestar.testing import TestClient
from typer.testing import Result

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_core.payments.webhook_log import WebhookOutcome
from webmagic_http.app import create_app

Invoke = Callable[..., Result]
ErrorLine = Callable[[Result], str]


def _rows(database: Path, sql: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _count(database: Path, table: str) -> int:
    return int(_rows(database, f"SELECT count(*) FROM {table}")[0][0])


def test_a_backup_taken_while_webhooks_arrive_is_one_consistent_state(
    invoke: Invoke, shop: Shop, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    live = tmp_path / "cli.db"
    stop = threading.Event()
    failures: list[BaseException] = []
    sold: list[str] = []

    def traffic() -> None:
        try:
            n = 0
            while not stop.is_set():
                slug = f"shop-{n}"
                # A preview, a purchase by a new buyer, and the provider's payment webhook.
                shop.preview(slug, f"Shop {n}")
                shop.later(120)
                started = shop.start(slug, email=f"buyer-{n}@example.com")
                shop.later(120)
                _, paid = shop.pay(started.checkout_id)
                assert paid is WebhookOutcome.PROCESSED
                sold.append(slug)
                _, outcome = shop.deliver({"id": f"evt_{uuid.uuid4().hex}", "event_type": "test.ping"})
                assert outcome is WebhookOutcome.IGNORED
                n += 1
        except BaseException as error:  # reported by the test thread
            failures.append(error)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        while len(sold) < 5:
            assert not failures, failures
            stop.wait(0.01)
        result = invoke("db", "backup", str(tmp_path / "copy.db"))
        assert worker.is_alive()  # traffic went on during the copy
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not failures, failures
    assert result.exit_code == 0, result.output
    assert "Backed up" in result.stdout

    copy = tmp_path / "copy.db"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not (tmp_path / "copy.db-wal").exists()  # one self-contained file
    assert _rows(copy, "PRAGMA integrity_check") == [("ok",)]
    sites_in_copy = _count(copy, "sites")
    assert 5 <= sites_in_copy <= _count(live, "sites")
    # One moment's state: every site the copy shows as sold has its paid purchase and its webhook.
    broken = _rows(
        copy,
        "SELECT s.slug FROM sites s WHERE s.status = 'owned' AND NOT EXISTS ("
        " SELECT 1 FROM purchases p WHERE p.site_id = s.id AND p.status = 'paid')",
    )
    assert broken == []
    assert _count(copy, "webhook_events") >= 2 * (sites_in_copy - 1)
    assert not list(tmp_path.glob(".copy.db.partial-*"))


def test_a_restored_backup_serves_its_sites(
    invoke: Invoke, shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.buy("casa-rosa", "Casa Rosa")
    assert invoke("db", "backup", str(tmp_path / "copy.db")).exit_code == 0

    fresh = tmp_path / "restored" / "site.db"
    fresh.parent.mkdir()
    monkeypatch.setenv("WEBMAGIC_DATABASE_URL", f"sqlite:///{fresh.as_posix()}")
    result = invoke("db", "restore", str(tmp_path / "copy.db"), "--yes")
    assert result.exit_code == 0, result.output
    assert "Restored" in result.stdout

    container = bootstrap(load_settings())
    try:
        with TestClient(create_app(container)) as client:
            page = client.get("/casa-rosa")
            assert page.status_code == 200
            assert "Casa Rosa" in page.text
            assert "data-webmagic-banner" not in page.text  # restored as sold, not as a preview
    finally:
        container.close()


def test_restore_keeps_the_database_it_replaces(invoke: Invoke, shop: Shop, tmp_path: Path) -> None:
    shop.preview("first-site", "First")
    assert invoke("db", "backup", str(tmp_path / "copy.db")).exit_code == 0
    shop.preview("second-site", "Second")

    result = invoke("db", "restore", str(tmp_path / "copy.db"), "--yes")

    assert result.exit_code == 0, result.output
    [kept] = list(tmp_path.glob("cli.db.before-restore-*"))
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert {row[0] for row in _rows(kept, "SELECT slug FROM sites")} == {"first-site", "second-site"}
    assert {row[0] for row in _rows(tmp_path / "cli.db", "SELECT slug FROM sites")} == {"first-site"}
    assert str(kept) in result.stdout


def test_restore_asks_first_and_does_nothing_when_refused(invoke: Invoke, shop: Shop, tmp_path: Path) -> None:
    shop.preview("first-site", "First")
    assert invoke("db", "backup", str(tmp_path / "copy.db")).exit_code == 0
    shop.preview("second-site", "Second")

    result = invoke("db", "restore", str(tmp_path / "copy.db"), input="n\n")

    assert result.exit_code == 1
    assert _count(tmp_path / "cli.db", "sites") == 2
    assert not list(tmp_path.glob("cli.db.before-restore-*"))


def test_backup_refuses_to_overwrite_without_force(
    invoke: Invoke, migrated: None, tmp_path: Path, error_line: ErrorLine
) -> None:
    target = tmp_path / "copy.db"
    target.write_bytes(b"precious")

    result = invoke("db", "backup", str(target))

    assert result.exit_code == 1
    assert "already exists" in error_line(result)
    assert target.read_bytes() == b"precious"
    assert invoke("db", "backup", str(target), "--force").exit_code == 0
    assert _rows(target, "PRAGMA integrity_check") == [("ok",)]


def test_backup_into_a_missing_folder_is_one_line(
    invoke: Invoke, migrated: None, tmp_path: Path, error_line: ErrorLine
) -> None:
    result = invoke("db", "backup", str(tmp_path / "no-such-folder" / "copy.db"))
    assert result.exit_code == 1
    assert "does not exist" in error_line(result)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "not a WebMagic database"), (b"this is not sqlite at all" * 100, "not a readable SQLite")],
)
def test_restore_refuses_what_is_not_a_webmagic_backup(
    invoke: Invoke, migrated: None, tmp_path: Path, error_line: ErrorLine, content: bytes, reason: str
) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(content)
    before = (tmp_path / "cli.db").read_bytes()

    result = invoke("db", "restore", str(bogus), "--yes")

    assert result.exit_code == 1
    assert reason in error_line(result)
    assert (tmp_path / "cli.db").read_bytes() == before


def test_restore_refuses_a_backup_from_a_newer_version(
    invoke: Invoke, migrated: None, tmp_path: Path, error_line: ErrorLine
) -> None:
    assert invoke("db", "backup", str(tmp_path / "copy.db")).exit_code == 0
    connection = sqlite3.connect(tmp_path / "copy.db")
    connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.commit()
    connection.close()

    result = invoke("db", "restore", str(tmp_path / "copy.db"), "--yes")

    assert result.exit_code == 1
    assert "newer version" in error_line(result)


def test_restore_of_a_missing_file_is_one_line(
    invoke: Invoke, migrated: None, tmp_path: Path, error_line: ErrorLine
) -> None:
    result = invoke("db", "restore", str(tmp_path / "nothing.db"), "--yes")
    assert result.exit_code == 1
    assert "no backup file" in error_line(result)


@pytest.mark.postgres
def test_postgres_backup_prints_the_pg_dump_command(
    invoke: Invoke, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBMAGIC_DATABASE_URL", postgres_url)
    assert invoke("db", "upgrade").exit_code == 0

    result = invoke("db", "backup", "ignored.dump")

    assert result.exit_code == 0, result.output
    assert "pg_dump --format=custom" in result.stdout
    assert "--host=127.0.0.1" in result.stdout
    assert "PostgreSQL 1" in result.stdout  # the server's version, checked
    assert not os.path.exists("ignored.dump")
