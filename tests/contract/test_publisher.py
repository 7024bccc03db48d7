"""The ``Publisher`` contract, run against the fake and the folder adapter, and what only
the folder can show: real directories exchanged atomically under a concurrent reader,
world-readable modes, clean-up after a crash, a loud failure where the file system
cannot exchange directories, and folders written by the earlier (symlink) layout."""

from __future__ import annotations

import errno
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from webmagic_adapters import static_folder
from webmagic_adapters.preview_banner import NOINDEX_META
from webmagic_adapters.static_folder import FolderPublisher, PublishFolderError
from webmagic_core.ports import Publisher, SitePublication
from webmagic_core.testing.publishing import FakePublisher

SITE = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)


def publication(
    marker: str = "v1",
    *,
    site_id: uuid.UUID = SITE,
    slug: str = "sunrise-bakery",
    host: str | None = None,
    noindex: bool = False,
    extra: dict[str, bytes] | None = None,
) -> SitePublication:
    head = f"<head>{NOINDEX_META}</head>" if noindex else ""  # what the banner adds to a preview
    files = {
        "index.html": f"<html>{head}<body>{marker}</body></html>".encode(),
        "styles.css": f"/* {marker} */".encode(),
        "img/logo.png": b"\x89PNG" + marker.encode(),
        **(extra or {}),
    }
    return SitePublication(
        site_id=site_id,
        slug=slug,
        files=files,
        noindex=noindex,
        host=host,
        host_files={path: b"root:" + data for path, data in files.items()} if host else {},
    )


@pytest.fixture(params=["fake", "folder"])
def publisher(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Publisher]:
    if request.param == "fake":
        yield FakePublisher()
    else:
        yield FolderPublisher(tmp_path / "published")


def test_a_published_site_reads_back_whole(publisher: Publisher) -> None:
    first = publication(noindex=True)
    publisher.publish(first)
    assert publisher.read(slug="sunrise-bakery") == first.files
    assert publisher.is_noindex("sunrise-bakery")
    assert publisher.read(slug="other") is None
    assert publisher.inventory().sites == {"sunrise-bakery": SITE}


def test_publishing_again_replaces_every_file(publisher: Publisher) -> None:
    publisher.publish(publication("v1", noindex=True, extra={"old.txt": b"gone soon"}))
    second = publication("v2")
    publisher.publish(second)
    assert publisher.read(slug="sunrise-bakery") == second.files  # old.txt is gone
    assert not publisher.is_noindex("sunrise-bakery")


def test_the_host_follows_the_site(publisher: Publisher) -> None:
    publisher.publish(publication(host="www.sunrise.example"))
    assert publisher.read(host="www.sunrise.example") == publication(host="x").host_files
    publisher.publish(publication("v2", host="sunrise.example"))
    assert publisher.read(host="www.sunrise.example") is None
    assert publisher.read(host="sunrise.example") == publication("v2", host="x").host_files
    publisher.publish(publication("v3"))
    assert publisher.inventory().hosts == {}


def test_withdrawing_removes_the_slug_and_the_host(publisher: Publisher) -> None:
    publisher.publish(publication(host="sunrise.example"))
    publisher.publish(publication(site_id=OTHER, slug="rapidflow"))
    publisher.withdraw(SITE, "sunrise-bakery")
    assert publisher.read(slug="sunrise-bakery") is None
    assert publisher.read(host="sunrise.example") is None
    assert publisher.inventory().sites == {"rapidflow": OTHER}
    publisher.withdraw(SITE, "sunrise-bakery")  # again: nothing there is fine


def test_withdrawing_leaves_a_slug_another_site_holds(publisher: Publisher) -> None:
    publisher.publish(publication(site_id=OTHER))
    publisher.withdraw(SITE, "sunrise-bakery")
    assert publisher.inventory().sites == {"sunrise-bakery": OTHER}


def test_strays_are_removed_by_name(publisher: Publisher) -> None:
    publisher.publish(publication(host="sunrise.example"))
    publisher.remove_host("sunrise.example")
    assert publisher.inventory().hosts == {}
    assert publisher.read(slug="sunrise-bakery") is not None
    publisher.remove_slug("sunrise-bakery")
    assert publisher.inventory().sites == {}
    publisher.remove_slug("never-there")


# -- the folder only ----------------------------------------------------------------------


def test_files_are_world_readable_whatever_the_umask(tmp_path: Path) -> None:
    folder = FolderPublisher(tmp_path / "published")
    old = os.umask(0o077)
    try:
        folder.publish(publication(host="sunrise.example"))
    finally:
        os.umask(old)
    for top in (tmp_path / "published" / "sites" / "sunrise-bakery", tmp_path / "published" / "hosts"):
        for path in [top, *top.resolve().rglob("*")]:
            mode = stat.S_IMODE(path.resolve().stat().st_mode)
            assert mode == (0o755 if path.resolve().is_dir() else 0o644), (path, oct(mode))
    for folder_path in (tmp_path / "published", tmp_path / "published" / "sites"):
        assert stat.S_IMODE(folder_path.stat().st_mode) == 0o755


def test_the_layout_is_sites_slug_and_hosts_domain(tmp_path: Path) -> None:
    root = tmp_path / "published"
    FolderPublisher(root).publish(publication(host="sunrise.example", noindex=True))
    site, host = root / "sites" / "sunrise-bakery", root / "hosts" / "sunrise.example"
    assert NOINDEX_META.encode() in (site / "index.html").read_bytes()
    assert (site / "img" / "logo.png").read_bytes() == b"\x89PNGv1"
    assert (host / "styles.css").read_bytes() == b"root:/* v1 */"
    # Real directories, nothing but the site's files in them: the front server follows
    # no link and finds no marker.
    for top in (site, host):
        assert top.is_dir()
        assert not top.is_symlink()
        assert sorted(p.relative_to(top).as_posix() for p in top.rglob("*")) == [
            "img",
            "img/logo.png",
            "index.html",
            "styles.css",
        ]
    assert sorted(p.name for p in (root / "sites").iterdir()) == ["sunrise-bakery"]


def test_a_reader_never_sees_a_half_written_site(tmp_path: Path) -> None:
    """Publish 150 generations while a reader reads the site: the name is always there,
    every read of a file is a whole file of one generation, and two files read through
    one opened directory agree."""
    root = tmp_path / "published"
    folder = FolderPublisher(root, fsync=False)
    big = b"x" * 200_000
    folder.publish(publication("g0000", extra={"big.bin": big + b"g0000"}))
    site = root / "sites" / "sunrise-bakery"
    stop = threading.Event()
    seen: list[str] = []
    problems: list[str] = []

    def read_file(directory: int, name: str) -> bytes:
        fd = os.open(name, os.O_RDONLY, dir_fd=directory)
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def read() -> None:
        while not stop.is_set():
            try:
                directory = os.open(site, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                problems.append("the site was missing")
                continue
            try:
                page = read_file(directory, "index.html")
                blob = read_file(directory, "big.bin")
            except FileNotFoundError:
                continue  # the old tree removed after we opened it: the front falls back
            finally:
                os.close(directory)
            marker = page.removeprefix(b"<html><body>").removesuffix(b"</body></html>").decode()
            if blob != big + marker.encode():
                problems.append(f"{marker}: big.bin is not that generation's ({len(blob)} bytes)")
            seen.append(marker)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for number in range(1, 150):
            marker = f"g{number:04d}"
            folder.publish(publication(marker, extra={"big.bin": big + marker.encode()}))
    finally:
        stop.set()
        reader.join()
    assert not problems, problems[:5]
    assert len(seen) > 10
    assert len(set(seen)) > 1
    assert [p.name for p in (root / ".store" / str(SITE)).iterdir()] == [".lock"]  # old trees gone


def test_a_crashed_write_is_cleaned_by_the_next_publish(tmp_path: Path) -> None:
    root = tmp_path / "published"
    folder = FolderPublisher(root)
    folder.publish(publication("v1"))
    leftover = root / ".store" / str(SITE) / "00000000000000000001-dead.tmp"
    leftover.mkdir()
    (leftover / "index.html").write_bytes(b"half")
    folder.publish(publication("v2"))
    assert not leftover.exists()
    assert folder.read(slug="sunrise-bakery") == publication("v2").files


def test_names_that_are_not_path_components_are_refused(tmp_path: Path) -> None:
    from webmagic_adapters.static_folder import PublishFolderError

    folder = FolderPublisher(tmp_path / "published")
    with pytest.raises(PublishFolderError, match="slug"):
        folder.publish(publication(slug="../etc"))
    with pytest.raises(PublishFolderError, match="file path"):
        folder.publish(publication(extra={"../escape": b"x"}))
    assert not (tmp_path / "escape").exists()


def test_a_bulk_write_syncs_once_at_the_end(tmp_path: Path) -> None:
    folder = FolderPublisher(tmp_path / "published")
    with folder.synced_at_the_end():
        for number in range(5):
            folder.publish(publication(site_id=uuid.UUID(int=number + 10), slug=f"site-{number}"))
    assert len(folder.inventory().sites) == 5
    assert folder._fsync  # back to one fsync per file afterwards


def test_without_an_atomic_exchange_publishing_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where renameat2 is missing (not Linux, an old libc) or the file system refuses
    RENAME_EXCHANGE (EINVAL), nothing is swapped non-atomically: the folder is refused,
    naming the reason, and what was published stays served."""
    root = tmp_path / "published"
    FolderPublisher(root).publish(publication("v1"))

    monkeypatch.setattr(static_folder, "renameat2", None)
    with pytest.raises(PublishFolderError, match="cannot exchange two directories atomically"):
        FolderPublisher(root).ensure()

    def refused(*_: object) -> int:
        import ctypes

        ctypes.set_errno(errno.EINVAL)
        return -1

    monkeypatch.setattr(static_folder, "renameat2", refused)
    folder = FolderPublisher(root)
    folder._exchange_checked = True  # as if the check had passed when the process started
    with pytest.raises(PublishFolderError, match="RENAME_EXCHANGE"):
        folder.publish(publication("v2"))
    assert folder.read(slug="sunrise-bakery") == publication("v1").files
    assert [p.name for p in (root / ".store" / str(SITE)).iterdir()] == [".lock"]  # v2 cleaned away


def test_other_errors_of_the_exchange_are_raised_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = FolderPublisher(tmp_path / "published")
    folder.publish(publication("v1"))

    def full(*_: object) -> int:
        import ctypes

        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(static_folder, "renameat2", full)
    with pytest.raises(OSError, match="Input/output error") as raised:
        folder.publish(publication("v2"))
    assert raised.value.errno == errno.EIO
    assert not isinstance(raised.value, PublishFolderError)


def legacy_site(root: Path, site_id: uuid.UUID, slug: str, page: bytes, *, host: str | None = None) -> None:
    """A site as the earlier layout wrote it: symlinks into ``.store/<id>/<generation>/``,
    a marker file for a preview."""
    generation = root / ".store" / str(site_id) / "00000000000000000001-abcd"
    for kind, folder, name in (("site", "sites", slug), ("host", "hosts", host)):
        if name is None:
            continue
        (generation / kind).mkdir(parents=True)
        (generation / kind / "index.html").write_bytes(page)
        (generation / kind / ".webmagic-preview").write_bytes(b"")
        (root / folder).mkdir(parents=True, exist_ok=True)
        os.symlink(f"../.store/{site_id}/{generation.name}/{kind}", root / folder / name)


def test_a_folder_of_the_symlink_layout_is_taken_over(tmp_path: Path) -> None:
    root = tmp_path / "published"
    legacy_site(root, SITE, "sunrise-bakery", b"old", host="sunrise.example")
    legacy_site(root, OTHER, "rapidflow", b"old too")
    folder = FolderPublisher(root)
    assert folder.inventory().sites == {"sunrise-bakery": SITE, "rapidflow": OTHER}
    assert folder.inventory().hosts == {"sunrise.example": SITE}
    assert folder.read(slug="rapidflow") == {"index.html": b"old too"}  # the marker is not a file of the site

    folder.publish(publication("v2", host="sunrise.example"))
    site = root / "sites" / "sunrise-bakery"
    assert site.is_dir()
    assert not site.is_symlink()
    assert folder.read(slug="sunrise-bakery") == publication("v2").files
    assert not (root / "hosts" / "sunrise.example").is_symlink()
    assert [p.name for p in (root / ".store" / str(SITE)).iterdir()] == [".lock"]

    folder.withdraw(OTHER, "rapidflow")
    assert folder.inventory().sites == {"sunrise-bakery": SITE}
    assert not (root / ".store" / str(OTHER)).exists()


def test_garbage_and_strays_are_found(tmp_path: Path) -> None:
    root = tmp_path / "published"
    folder = FolderPublisher(root)
    folder.publish(publication(host="sunrise.example"))
    crashed = root / ".store" / str(OTHER) / "00000000000000000001-dead-site.tmp"
    crashed.mkdir(parents=True)
    (crashed / "index.html").write_bytes(b"half")
    stray = root / "sites" / "by-hand"
    stray.mkdir()
    (stray / "index.html").write_bytes(b"not ours")
    assert folder.inventory().sites == {"sunrise-bakery": SITE, "by-hand": uuid.UUID(int=0)}

    assert folder.collect_garbage() == 1
    assert not (root / ".store" / str(OTHER)).exists()
    folder.remove_slug("by-hand")
    assert not stray.exists()
    # A name removed by hand: its record goes with the next collection.
    (root / "hosts" / "sunrise.example" / "index.html").unlink()
    for path in sorted((root / "hosts" / "sunrise.example").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "hosts" / "sunrise.example").rmdir()
    folder.collect_garbage()
    assert not (root / ".store" / "owners" / "hosts" / "sunrise.example").exists()
    assert folder.read(slug="sunrise-bakery") == publication().files


def test_a_domain_passed_to_another_site_is_not_taken_down_by_the_first(tmp_path: Path) -> None:
    folder = FolderPublisher(tmp_path / "published")
    folder.publish(publication(host="shared.example"))
    folder.publish(publication("b", site_id=OTHER, slug="rapidflow", host="shared.example"))
    folder.publish(publication("v2"))  # the first site, without the domain now
    assert folder.read(host="shared.example") == publication("b", host="x").host_files
    assert folder.inventory().hosts == {"shared.example": OTHER}
    folder.withdraw(SITE, "sunrise-bakery")
    assert folder.inventory().hosts == {"shared.example": OTHER}


def test_a_failed_write_leaves_a_site_of_the_symlink_layout_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "published"
    legacy_site(root, SITE, "sunrise-bakery", b"old")
    folder = FolderPublisher(root)
    folder.ensure()

    def full(*_: object) -> int:
        import ctypes

        ctypes.set_errno(errno.ENOSPC)
        return -1

    monkeypatch.setattr(static_folder, "renameat2", full)
    with pytest.raises(OSError, match="No space left"):
        folder.publish(publication("v2"))
    assert (root / "sites" / "sunrise-bakery" / "index.html").read_bytes() == b"old"
