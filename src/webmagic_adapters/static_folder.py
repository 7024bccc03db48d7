"""``Publisher`` on a folder a front server (nginx, Caddy) serves: ``WEBMAGIC_PUBLISH_DIR``.

Layout (what the front server reads, and where the bytes really are)::

    <dir>/sites/<slug>   -> .store/<site id>/<generation>/site   (a relative symlink)
    <dir>/hosts/<domain> -> .store/<site id>/<generation>/host
    <dir>/.store/<site id>/<generation>/site/index.html, styles.css, img/logo.png ...
                                        site/.webmagic-preview  (present while a preview)
                                        host/...                (as served at a domain root)
                                        SLUG, HOST              (what links here; not served)

A site is written as a new generation directory (every file and directory fsynced, then
renamed from ``*.tmp`` into place), then each link is swapped with ``rename(2)`` over the
old one (atomic: a reader resolves the old generation or the new one, never a mix), then
the old generations are removed. A reader that resolved the old link just before its
directory went gets ENOENT, and the front server falls back to the app, which answers
the same. Files are 0644 and directories 0755 whatever the umask, so a front server
running as another user reads them. Writers of one site are serialised by a lock file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from webmagic_core.ports import Inventory, SitePublication

PREVIEW_MARKER = ".webmagic-preview"
STORE = ".store"
FILE_MODE = 0o644
DIR_MODE = 0o755
_TMP = ".tmp"


class PublishFolderError(Exception):
    """The folder cannot be used (not writable, a name that cannot be a path...)."""


def _check_name(name: str, what: str) -> str:
    if not name or "/" in name or "\0" in name or name.startswith("."):
        raise PublishFolderError(f"{what} {name!r} cannot name a folder entry")
    return name


def _check_path(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("/"))
    if any(not part or part in (".", "..") or "\0" in part for part in parts):
        raise PublishFolderError(f"the file path {path!r} cannot be published")
    return parts


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(path, DIR_MODE)  # whatever the umask


class FolderPublisher:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self._fsync = fsync
        self._sites = root / "sites"
        self._hosts = root / "hosts"
        self._store = root / STORE

    def ensure(self) -> None:
        """Create the folder's skeleton (0755); raises ``PublishFolderError`` naming the
        problem when it cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for path in (self.root, self._sites, self._hosts, self._store):
                _mkdir(path)
            probe = self._store / f".probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise PublishFolderError(
                f"the publish folder {self.root} cannot be written: {error.strerror or error}"
            ) from error

    @contextlib.contextmanager
    def synced_at_the_end(self) -> Iterator[None]:
        """Write many sites without an fsync each, then flush the file system once
        (``webmagic publish all``: a crash before the end is repaired by running it again;
        the swaps stay atomic either way)."""
        saved, self._fsync = self._fsync, False
        try:
            yield
        finally:
            self._fsync = saved
            if saved:
                fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(fd)
                    os.sync()
                finally:
                    os.close(fd)

    # -- the port ------------------------------------------------------------------------

    def publish(self, publication: SitePublication) -> None:
        slug = _check_name(publication.slug, "the slug")
        host = _check_name(publication.host, "the host") if publication.host is not None else None
        self.ensure()
        site_store = self._store / str(publication.site_id)
        _mkdir(site_store)
        with self._locked(site_store):
            generation = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
            building = site_store / f"{generation}{_TMP}"
            _mkdir(building)
            self._write_tree(building / "site", publication.files, marker=publication.noindex)
            if host is not None:
                self._write_tree(building / "host", publication.host_files, marker=False)
            self._write_file(building / "SLUG", slug.encode())
            if host is not None:
                self._write_file(building / "HOST", host.encode())
            self._sync(building)
            final = site_store / generation
            os.rename(building, final)
            self._sync(site_store)
            self._swap(self._sites / slug, f"../{STORE}/{publication.site_id}/{generation}/site")
            if host is not None:
                self._swap(self._hosts / host, f"../{STORE}/{publication.site_id}/{generation}/host")
            self._clean_site(site_store, keep=generation)

    def withdraw(self, site_id: uuid.UUID, slug: str) -> None:
        site_store = self._store / str(site_id)
        link = self._sites / _check_name(slug, "the slug")
        if self._owner(link) == site_id:
            self._unlink(link)
        if not site_store.is_dir():
            return
        with self._locked(site_store):
            self._clean_site(site_store, keep=None)
        shutil.rmtree(site_store, ignore_errors=True)

    def inventory(self) -> Inventory:
        return Inventory(sites=self._links(self._sites), hosts=self._links(self._hosts))

    def remove_slug(self, slug: str) -> None:
        self._remove_link(self._sites / _check_name(slug, "the slug"))

    def remove_host(self, host: str) -> None:
        self._remove_link(self._hosts / _check_name(host, "the host"))

    def read(self, *, slug: str | None = None, host: str | None = None) -> Mapping[str, bytes] | None:
        link = self._sites / slug if slug is not None else self._hosts / (host or "")
        if not link.is_dir():
            return None
        files: dict[str, bytes] = {}
        for path in sorted(link.rglob("*")):
            if path.is_file() and path.name != PREVIEW_MARKER:
                files[path.relative_to(link).as_posix()] = path.read_bytes()
        return files

    def is_noindex(self, slug: str) -> bool:
        return (self._sites / slug / PREVIEW_MARKER).is_file()

    def collect_garbage(self) -> int:
        """Remove store directories no link names (left by a crash or a removed link);
        how many."""
        if not self._store.is_dir():
            return 0
        linked = {
            target
            for folder in (self._sites, self._hosts)
            if folder.is_dir()
            for link in folder.iterdir()
            if (target := self._target(link)) is not None
        }
        removed = 0
        for site_store in self._store.iterdir():
            if not site_store.is_dir():
                continue
            with self._locked(site_store):
                for generation in site_store.iterdir():
                    if generation.is_dir() and generation not in linked:
                        shutil.rmtree(generation, ignore_errors=True)
                        removed += 1
                if not any(p.is_dir() for p in site_store.iterdir()):
                    shutil.rmtree(site_store, ignore_errors=True)
        return removed

    # -- writing -------------------------------------------------------------------------

    def _write_tree(self, top: Path, files: Mapping[str, bytes], *, marker: bool) -> None:
        _mkdir(top)
        for path, data in files.items():
            *folders, _ = parts = _check_path(path)
            here = top
            for folder in folders:
                here = here / folder
                _mkdir(here)
            self._write_file(top.joinpath(*parts), data)
        if marker:
            self._write_file(top / PREVIEW_MARKER, b"")

    def _write_file(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # whatever the umask
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def _sync(self, top: Path) -> None:
        """fsync every directory under ``top`` (the files were synced as written)."""
        if not self._fsync:
            return
        for folder, _dirs, _files in os.walk(top, topdown=False):
            _fsync_dir(Path(folder))

    def _swap(self, link: Path, target: str) -> None:
        temporary = link.parent / f".{link.name}.{secrets.token_hex(4)}{_TMP}"
        os.symlink(target, temporary)
        try:
            os.replace(temporary, link)
        except OSError:
            self._unlink(temporary)
            raise
        if self._fsync:
            _fsync_dir(link.parent)

    # -- reading links -------------------------------------------------------------------

    def _target(self, link: Path) -> Path | None:
        """The generation directory a link names (``.store/<id>/<generation>``), or None."""
        try:
            target = os.readlink(link)
        except OSError:
            return None
        parts = Path(target).parts
        if len(parts) != 5 or parts[0] != ".." or parts[1] != STORE:
            return None
        return self._store / parts[2] / parts[3]

    def _owner(self, link: Path) -> uuid.UUID | None:
        target = self._target(link)
        if target is None:
            return None
        try:
            return uuid.UUID(target.parent.name)
        except ValueError:
            return None

    def _links(self, folder: Path) -> dict[str, uuid.UUID]:
        found: dict[str, uuid.UUID] = {}
        if not folder.is_dir():
            return found
        for link in folder.iterdir():
            if link.name.startswith("."):
                continue
            owner = self._owner(link)
            # A link nobody owns (or a stray file) is reported with a nil owner: a stray.
            found[link.name] = owner if owner is not None else uuid.UUID(int=0)
        return found

    def _remove_link(self, link: Path) -> None:
        target = self._target(link)
        if link.is_symlink() or link.is_file():
            self._unlink(link)
        elif link.is_dir():
            shutil.rmtree(link, ignore_errors=True)
        if target is not None and target.parent.is_dir():
            self.collect_garbage()

    def _clean_site(self, site_store: Path, *, keep: str | None) -> None:
        """Remove the site's generations other than ``keep``, and the links that still
        name them (a host the site no longer has)."""
        for generation in site_store.iterdir():
            if generation.name == keep or not generation.is_dir():
                continue
            for folder, name_file in ((self._sites, "SLUG"), (self._hosts, "HOST")):
                with contextlib.suppress(OSError):
                    name = (generation / name_file).read_text()
                    link = folder / name
                    if self._target(link) == generation:
                        self._unlink(link)
            shutil.rmtree(generation, ignore_errors=True)

    @staticmethod
    def _unlink(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    @contextlib.contextmanager
    def _locked(self, site_store: Path) -> Iterator[None]:
        """One writer per site at a time, across processes."""
        try:
            fd = os.open(site_store / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            if error.errno == errno.ENOENT:  # removed meanwhile (withdrawn): recreate
                _mkdir(site_store)
                fd = os.open(site_store / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            else:
                raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
