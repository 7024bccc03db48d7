"""``webmagic publish all`` on a real folder: every site written as a directory, strays
and leftovers removed, and a file system that cannot exchange directories refused in one
line before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from webmagic_adapters import static_folder
from webmagic_adapters.preview_banner import NOINDEX_META
from webmagic_core.services.sites import SiteService
from webmagic_core.sites import SiteContent

Invoke = Callable[..., Result]


@pytest.fixture
def publish_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "published"
    monkeypatch.setenv("WEBMAGIC_PUBLISH_DIR", str(folder))
    return folder


def test_publish_all_writes_directories_and_removes_strays(
    invoke: Invoke, publish_dir: Path, service: SiteService
) -> None:
    service.create_preview("rosas-bakery", "Rosa's Bakery", SiteContent("<h1>Rosa</h1>", css="h1{}"))
    stray = publish_dir / "sites" / "by-hand"
    stray.mkdir(parents=True)
    (stray / "index.html").write_text("not ours")
    leftover = publish_dir / ".store" / "00000000-0000-0000-0000-000000000009" / "1-site.tmp"
    leftover.mkdir(parents=True)

    result = invoke("publish", "all")
    assert result.exit_code == 0, result.output
    assert "1 site published" in result.stdout
    assert "2 stray entries removed" in result.stdout
    site = publish_dir / "sites" / "rosas-bakery"
    assert site.is_dir()
    assert not site.is_symlink()
    assert NOINDEX_META.encode() in (site / "index.html").read_bytes()
    assert not stray.exists()
    assert not leftover.parent.exists()


def test_publish_all_refuses_a_folder_that_cannot_exchange_directories(
    invoke: Invoke,
    publish_dir: Path,
    service: SiteService,
    monkeypatch: pytest.MonkeyPatch,
    error_line: Callable[[Result], str],
) -> None:
    service.create_preview("rosas-bakery", "Rosa's Bakery", SiteContent("<h1>Rosa</h1>"))
    monkeypatch.setattr(static_folder, "renameat2", None)
    result = invoke("publish", "all")
    assert result.exit_code != 0
    assert "cannot exchange two directories atomically" in error_line(result)
    assert not (publish_dir / "sites" / "rosas-bakery").exists()
