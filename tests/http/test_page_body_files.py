"""The local disk copy of stored pages (``webmagic_adapters.page_bodies``): on a network
database (PostgreSQL) a page-cache miss reads the body from disk, never a file that is not
what its name says, and the folder stays within its budget; on SQLite (a local file
already) hosting reads the database."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import anyio.to_thread
import pytest
from content_support import count_page_body_reads
from litestar import Litestar
from litestar.testing import TestClient

from webmagic_adapters.bootstrap import Container
from webmagic_adapters.page_bodies import PageBodyFiles
from webmagic_core.sites import Site

CreateSite = Callable[..., Site]
# A host of our own (not a custom domain): the one the fast path answers.
OWN_HOST = {"host": "localhost"}
MakeApp = Callable[..., tuple[Litestar, Container]]


def digest_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_a_body_written_is_read_back_and_its_folders_are_created(tmp_path: Path) -> None:
    root = tmp_path / "not" / "there"
    files = PageBodyFiles(root, 1_000_000)
    body = b"<p>hello</p>"
    assert files.read(digest_of(body)) is None
    files.write(digest_of(body), body)
    assert files.path(digest_of(body)) == root / digest_of(body)[:2] / digest_of(body)
    assert files.path(digest_of(body)).read_bytes() == body
    assert files.read(digest_of(body)) == body
    # Nothing but the body is left behind (no temporary file).
    assert [p.name for p in (root / digest_of(body)[:2]).iterdir()] == [digest_of(body)]


@pytest.mark.parametrize(
    "damage",
    [
        lambda body: body[: len(body) // 2],  # a partial write
        lambda body: body[:-1] + b"!",  # same length, other bytes
        lambda body: b"",
        lambda body: b"<p>another page</p>",  # a whole other body under this name
    ],
)
def test_a_file_that_is_not_what_its_name_says_is_never_returned_and_is_removed(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    files = PageBodyFiles(tmp_path, 1_000_000)
    body = b"<html>" + b"x" * 1_000 + b"</html>"
    files.write(digest_of(body), body)
    path = files.path(digest_of(body))
    path.write_bytes(damage(body))
    assert files.read(digest_of(body)) is None
    assert not path.exists()
    files.write(digest_of(body), body)
    assert files.read(digest_of(body)) == body


@pytest.mark.parametrize("name", ["../../etc/passwd", "ab", "A" * 64, "g" * 64, "0" * 63 + "/"])
def test_names_that_are_not_digests_are_neither_read_nor_written(tmp_path: Path, name: str) -> None:
    files = PageBodyFiles(tmp_path / "bodies", 1_000_000)
    files.write(name, b"x")
    assert files.read(name) is None
    assert not (tmp_path / "bodies").exists()


def test_the_folder_stays_within_its_budget(tmp_path: Path) -> None:
    files = PageBodyFiles(tmp_path, 50_000)
    bodies = [os.urandom(1_000) for _ in range(200)]  # 200 KB written into 50 KB
    for body in bodies:
        files.write(digest_of(body), body)
        on_disk = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
        assert on_disk <= 50_000
    kept = [body for body in bodies if files.read(digest_of(body)) is not None]
    assert 0 < len(kept) < len(bodies)
    assert files.read(digest_of(bodies[-1])) == bodies[-1]  # the newest is never the one evicted


def test_the_budget_counts_what_other_processes_left_in_the_folder(tmp_path: Path) -> None:
    earlier = PageBodyFiles(tmp_path, 1_000_000)
    for _ in range(40):
        body = os.urandom(1_000)
        earlier.write(digest_of(body), body)
    files = PageBodyFiles(tmp_path, 20_000)  # a later process with a smaller budget
    body = os.urandom(1_000)
    files.write(digest_of(body), body)
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) <= 20_000


def test_a_folder_that_cannot_be_written_only_makes_hosting_slower(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "bodies"
    blocker.write_text("a file where the folder should be")
    files = PageBodyFiles(blocker, 1_000_000)
    body = b"<p>hello</p>"
    files.write(digest_of(body), body)
    files.write(digest_of(body), body)
    assert files.read(digest_of(body)) is None
    assert len([r for r in caplog.records if "cannot write page bodies" in r.message]) == 1


@pytest.fixture
def on_postgres(make_app: MakeApp, tmp_path: Path, postgres_url: str) -> tuple[Litestar, Container]:
    """The app on PostgreSQL with no page cache: every 200 is a miss, answered from the
    disk copy in ``tmp_path / "bodies"`` once it is there."""
    return make_app(page_cache_bytes=0, page_body_dir=tmp_path / "bodies", database_url=postgres_url)


@pytest.mark.postgres
def test_a_page_cache_miss_reads_the_database_once_then_the_disk(
    on_postgres: tuple[Litestar, Container],
    create_site: CreateSite,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    app, container = on_postgres
    create_site(container, "sunrise-bakery")
    reads = count_page_body_reads(monkeypatch)
    with TestClient(app) as client:
        first = client.get("/sunrise-bakery")
        assert first.status_code == 200
        digest = first.headers["etag"].strip('"')
        assert digest == digest_of(first.content)
        assert (tmp_path / "bodies" / digest[:2] / digest).read_bytes() == first.content
        for _ in range(3):
            again = client.get("/sunrise-bakery")
            assert (again.status_code, again.content, again.headers) == (200, first.content, first.headers)
            head = client.head("/sunrise-bakery")
            assert (head.status_code, head.content, head.headers) == (200, b"", first.headers)
    assert reads == [digest]


@pytest.mark.postgres
def test_a_damaged_copy_on_disk_is_never_served_and_is_written_again(
    on_postgres: tuple[Litestar, Container],
    create_site: CreateSite,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    app, container = on_postgres
    create_site(container, "sunrise-bakery")
    create_site(container, "harbor-cafe")
    with TestClient(app) as client:
        page = client.get("/sunrise-bakery")
        other = client.get("/harbor-cafe")
        digest = page.headers["etag"].strip('"')
        path = tmp_path / "bodies" / digest[:2] / digest
        reads = count_page_body_reads(monkeypatch)
        for damaged in (page.content[:100], other.content):  # a partial file; another page
            path.write_bytes(damaged)
            served = client.get("/sunrise-bakery")
            assert (served.status_code, served.content, served.headers) == (200, page.content, page.headers)
            assert path.read_bytes() == page.content
        assert reads == [digest, digest]


@pytest.mark.parametrize("settings", [{"page_body_cache_bytes": 0}, {}])
def test_on_sqlite_or_without_a_budget_nothing_is_written(
    make_app: MakeApp, create_site: CreateSite, tmp_path: Path, settings: dict[str, int]
) -> None:
    app, container = make_app(page_cache_bytes=0, page_body_dir=tmp_path / "bodies", **settings)
    assert (container.page_bodies is None) == bool(settings)
    create_site(container, "sunrise-bakery")
    with TestClient(app) as client:
        for _ in range(2):
            assert client.get("/sunrise-bakery").status_code == 200
    assert not (tmp_path / "bodies").exists()


@pytest.mark.postgres
def test_the_fast_path_answers_a_page_on_disk_without_a_worker_thread(
    on_postgres: tuple[Litestar, Container],
    create_site: CreateSite,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    app, container = on_postgres
    create_site(container, "sunrise-bakery")
    with TestClient(app) as client:
        first = client.get(
            "/sunrise-bakery", headers=OWN_HOST
        )  # reads the head and the body: a worker thread
        assert first.status_code == 200
        hops: list[object] = []
        original = anyio.to_thread.run_sync

        async def counting(function: Callable[..., object], *args: object, **kwargs: object) -> object:
            hops.append(function)
            return await original(function, *args, **kwargs)

        monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
        for _ in range(3):
            again = client.get("/sunrise-bakery", headers=OWN_HOST)
            assert (again.status_code, again.content, again.headers) == (200, first.content, first.headers)
    # The head is in memory once the listener has confirmed itself; from then on, no hop.
    assert len(hops) <= 1


def test_eviction_leaves_a_write_in_progress_and_removes_an_abandoned_one(tmp_path: Path) -> None:
    files = PageBodyFiles(tmp_path, 20_000)
    body = os.urandom(1_000)
    files.write(digest_of(body), body)  # counts the folder: the temporaries below come after
    in_progress = tmp_path / "00" / f".{'0' * 64}.999.abcd"
    abandoned = tmp_path / "01" / f".{'1' * 64}.999.abcd"
    for temporary in (in_progress, abandoned):
        temporary.parent.mkdir(exist_ok=True)
        temporary.write_bytes(os.urandom(5_000))
    old = time.time() - 3600
    os.utime(abandoned, (old, old))
    # Far past the budget: each write evicts at least one shard, so every shard is emptied
    # several times over.
    for _ in range(1_500):
        more = os.urandom(1_000)
        files.write(digest_of(more), more)
    assert in_progress.exists()
    assert not abandoned.exists()
