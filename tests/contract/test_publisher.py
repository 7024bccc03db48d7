"""The ``Publisher`` contract, run against the fake and the folder adapter, and what only
the folder can show: atomic swaps under a concurrent reader, world-readable modes,
and clean-up after a crash."""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from webmagic_adapters.static_folder import PREVIEW_MARKER, FolderPublisher
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
    files = {
        "index.html": f"<html><body>{marker}</body></html>".encode(),
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
    assert (root / "sites" / "sunrise-bakery" / "index.html").read_bytes() == b"<html><body>v1</body></html>"
    assert (root / "sites" / "sunrise-bakery" / "img" / "logo.png").is_file()
    assert (root / "sites" / "sunrise-bakery" / PREVIEW_MARKER).is_file()
    assert (root / "hosts" / "sunrise.example" / "styles.css").read_bytes() == b"root:/* v1 */"
    assert not (root / "hosts" / "sunrise.example" / PREVIEW_MARKER).exists()


def test_a_reader_never_sees_a_half_written_site(tmp_path: Path) -> None:
    """Publish 150 generations while a reader reads the site: every read of a file is a
    whole file of one generation, and the two files of one directory agree."""
    root = tmp_path / "published"
    folder = FolderPublisher(root, fsync=False)
    big = b"x" * 200_000
    folder.publish(publication("g0000", extra={"big.bin": big + b"g0000"}))
    link = root / "sites" / "sunrise-bakery"
    stop = threading.Event()
    seen: list[str] = []
    problems: list[str] = []

    def read() -> None:
        while not stop.is_set():
            if not os.path.lexists(link):
                problems.append("the site was missing")
                continue
            try:
                here = Path(os.path.realpath(link))
                page = (here / "index.html").read_bytes()
                blob = (here / "big.bin").read_bytes()
            except FileNotFoundError:
                continue  # an old generation removed after we resolved it: the front falls back
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
    assert len(list((root / ".store" / str(SITE)).iterdir())) == 2  # the live generation + .lock


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
