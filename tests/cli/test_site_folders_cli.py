"""Sites as folders at the CLI: ``sites create/publish --dir``, ``sites import`` of whole
trees, ``sites files``, ``db gc``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete
from typer.testing import Result

from webmagic_adapters.bootstrap import bootstrap
from webmagic_adapters.settings import load_settings
from webmagic_adapters.sqlalchemy import tables
from webmagic_core.services.sites import SiteService
from webmagic_core.site_files import digest_of

pytestmark = pytest.mark.usefixtures("migrated")

Invoke = Callable[..., Result]
LOGO = b"\x89PNG\r\n\x1a\n" + bytes(300)
PAGE = '<!doctype html><title>Rosa</title><link rel="stylesheet" href="css/main.css"><img src="img/logo.png">'


def make_folder(root: Path, name: str = "rosas-bakery", **extra: bytes) -> Path:
    folder = root / name
    (folder / "css").mkdir(parents=True)
    (folder / "img").mkdir()
    (folder / "index.html").write_text(PAGE, encoding="utf-8")
    (folder / "css" / "main.css").write_text("body{background:url(../img/logo.png)}", encoding="utf-8")
    (folder / "img" / "logo.png").write_bytes(LOGO)
    for path, body in extra.items():
        target = folder / path.replace("__", "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return folder


def paths(service: SiteService, slug: str, number: int | None = None) -> list[str]:
    return [f.path for f in service.files_of(slug, number)[1].files]


def test_create_from_a_folder_keeps_every_file(invoke: Invoke, tmp_path: Path, service: SiteService) -> None:
    folder = make_folder(tmp_path, **{"fonts__brand.woff2": b"wOF2"})
    result = invoke("sites", "create", "rosas-bakery", "--name", "Rosa", "--dir", str(folder))
    assert result.exit_code == 0, result.output
    assert paths(service, "rosas-bakery") == [
        "css/main.css",
        "fonts/brand.woff2",
        "img/logo.png",
        "index.html",
    ]
    site = service.details("rosas-bakery").site
    assert service.version_files(site.id, 1)[1].bodies["img/logo.png"] == LOGO
    shown = json.loads(invoke("sites", "show", "rosas-bakery", "--json").stdout)["versions"][0]
    assert (shown["files"], shown["bytes"]) == (
        4,
        sum(f.size for f in service.files_of("rosas-bakery")[1].files),
    )


def test_a_folder_with_bad_files_is_refused_one_line_per_file(
    invoke: Invoke, tmp_path: Path, service: SiteService
) -> None:
    folder = make_folder(tmp_path, **{"tool.exe": b"MZ", "css__broken.css": b"\xff\xfe"})
    result = invoke("sites", "create", "rosas-bakery", "--name", "Rosa", "--dir", str(folder))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "Error: tool.exe: the type .exe is not allowed",
        "Error: css/broken.css: is not valid UTF-8 text (byte 0)",
    ]
    assert service.list_sites() == []  # nothing half-written


def test_dir_and_html_are_exclusive_and_one_is_needed(invoke: Invoke, tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    both = invoke(
        "sites",
        "create",
        "rosas-bakery",
        "-n",
        "R",
        "--dir",
        str(folder),
        "--html",
        str(folder / "index.html"),
    )
    assert (both.exit_code, "not both" in both.stderr) == (2, True)
    neither = invoke("sites", "create", "rosas-bakery", "-n", "R")
    assert neither.exit_code == 2
    assert "--dir FOLDER, or --html FILE" in neither.stderr
    missing = invoke("sites", "create", "rosas-bakery", "-n", "R", "--dir", str(tmp_path / "nope"))
    assert (missing.exit_code, "is not a folder" in missing.stderr) == (2, True)


def test_publish_a_folder_replaces_the_files_and_html_keeps_the_others(
    invoke: Invoke, tmp_path: Path, service: SiteService
) -> None:
    assert (
        invoke("sites", "create", "rosas-bakery", "-n", "R", "--dir", str(make_folder(tmp_path))).exit_code
        == 0
    )
    second = make_folder(tmp_path / "v2", **{"about.html": b"<p>about</p>"})
    (second / "img" / "logo.png").unlink()
    assert invoke("sites", "publish", "rosas-bakery", "--dir", str(second)).exit_code == 0
    assert paths(service, "rosas-bakery") == ["about.html", "css/main.css", "index.html"]
    page = tmp_path / "new.html"
    page.write_text("<h1>new</h1>", encoding="utf-8")
    assert invoke("sites", "publish", "rosas-bakery", "--html", str(page)).exit_code == 0
    assert paths(service, "rosas-bakery") == ["about.html", "css/main.css", "index.html"]  # kept
    site = service.details("rosas-bakery").site
    assert service.text_files(site.id, 3)["index.html"] == "<h1>new</h1>"


def test_import_takes_whole_trees_warns_about_skipped_files_and_reports_bad_sites_at_the_end(
    invoke: Invoke, tmp_path: Path, service: SiteService
) -> None:
    root = tmp_path / "generated"
    make_folder(root, "alpha-cafe", **{".DS_Store": b"x", ".git__config": b"x"})
    os.symlink("/etc/hostname", root / "alpha-cafe" / "img" / "linked.png")
    make_folder(root, "beta-barber", **{"img__huge.png": b"x" * (5 * 1024 * 1024 + 1), "notes.docx": b"PK"})
    make_folder(root, "gamma-garage")
    result = invoke("sites", "import", str(root))
    assert result.exit_code == 1
    out = result.stdout
    assert "2 sites imported, 1 failed." in out
    assert "✗ beta-barber  2 file problems:" in out
    assert "beta-barber/img/huge.png: is 5,242,881 bytes; the limit is 5,242,880 per file" in out
    assert "beta-barber/notes.docx: the type .docx is not allowed" in out
    warnings = result.stderr
    for skipped in (".DS_Store", ".git/", "img/linked.png"):
        assert f"alpha-cafe/{skipped}: skipped" in warnings, skipped
    assert paths(service, "alpha-cafe") == ["css/main.css", "img/logo.png", "index.html"]
    assert [s.slug for s in service.list_sites()] == ["alpha-cafe", "gamma-garage"]


def test_files_lists_paths_sizes_and_types(invoke: Invoke, tmp_path: Path) -> None:
    assert (
        invoke("sites", "create", "rosas-bakery", "-n", "R", "--dir", str(make_folder(tmp_path))).exit_code
        == 0
    )
    table = invoke("sites", "files", "rosas-bakery")
    assert table.exit_code == 0
    assert "img/logo.png" in table.stdout
    assert "image/png" in table.stdout
    assert f"{len(LOGO):,}" in table.stdout
    listed = json.loads(invoke("sites", "files", "rosas-bakery", "--version", "1", "--json").stdout)
    assert listed["version"] == 1
    assert {
        "path": "img/logo.png",
        "size": len(LOGO),
        "content_type": "image/png",
        "digest": digest_of(LOGO),
    } in (listed["files"])
    missing = invoke("sites", "files", "rosas-bakery", "--version", "7")
    assert (missing.exit_code, "has no version 7" in missing.stderr) == (1, True)


def test_db_gc_deletes_only_bodies_no_version_uses(
    invoke: Invoke, tmp_path: Path, service: SiteService
) -> None:
    assert (
        invoke("sites", "create", "rosas-bakery", "-n", "R", "--dir", str(make_folder(tmp_path))).exit_code
        == 0
    )
    other = make_folder(tmp_path / "o", "other-site", **{"own.txt": b"only here"})
    assert invoke("sites", "create", "other-site", "-n", "O", "--dir", str(other)).exit_code == 0
    container = bootstrap(load_settings())
    try:
        with container.database.engine.begin() as connection:  # an operator removing a site by hand
            connection.execute(delete(tables.sites).where(tables.sites.c.slug == "other-site"))
    finally:
        container.close()
    result = invoke("db", "gc")
    assert result.exit_code == 0, result.output
    # Its own text file, its page and stylesheet as served under /other-site, and its page
    # with the preview banner (the uploaded page and stylesheet, and what they serve at a
    # domain root, are shared).
    assert "Deleted 4 unused file bodies" in result.stdout
    site, version = service.files_of("rosas-bakery")
    assert service.version_files(site.id, 1)[1].bodies["img/logo.png"] == LOGO
    for file in version.files:
        for digest in (file.digest, file.slug_digest, file.root_digest):
            assert service.body(digest)
    assert "Deleted 0 unused file bodies" in invoke("db", "gc").stdout
