"""The page cache's default size follows the database: on SQLite a miss reads the file the
pages are in, on PostgreSQL the local disk copy while every site's head is held in memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from webmagic_adapters.settings import load_settings

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("WEBMAGIC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_sqlite_keeps_32_mb_of_pages(tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path).page_cache_budget == 32 * MB
    url = f"sqlite:///{tmp_path / 'other.db'}"
    assert load_settings(data_dir=tmp_path, database_url=url).page_cache_budget == 32 * MB


def test_postgresql_keeps_8_mb_of_pages(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1/test"
    assert load_settings(data_dir=tmp_path, database_url=url).page_cache_budget == 8 * MB


def test_a_set_budget_wins_on_either_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(data_dir=tmp_path, page_cache_bytes=0).page_cache_budget == 0
    monkeypatch.setenv("WEBMAGIC_PAGE_CACHE_BYTES", str(3 * MB))
    url = "postgresql://postgres@127.0.0.1/test"
    assert load_settings(data_dir=tmp_path, database_url=url).page_cache_budget == 3 * MB
