"""``Publisher`` on a folder a front server (nginx, Caddy) serves: ``WEBMAGIC_PUBLISH_DIR``.

Layout (what the front server reads, and the bookkeeping it never reads)::

    <dir>/sites/<slug>/index.html, styles.css, img/logo.png ...   real directories
    <dir>/hosts/<domain>/...                                      (as served at a domain root)
    <dir>/.store/<site id>/.lock        one writer per site at a time
    <dir>/.store/<site id>/<gen>.tmp/   a tree being written, or the old one being removed
    <dir>/.store/owners/sites/<slug>    the site id that wrote sites/<slug>
    <dir>/.store/owners/hosts/<domain>  the site id that wrote hosts/<domain>
    <dir>/.store/owners/host-of/<id>    the domain the site last published
    <dir>/.store/names.lock             held while a name in sites/ or hosts/ changes

A site is written as a new tree under ``.store/<site id>/`` (every file and directory
fsynced, files 0644 and directories 0755 whatever the umask, so a front server running as
another user reads them), then exchanged with ``sites/<slug>`` by
``renameat2(RENAME_EXCHANGE)``: one atomic step after which the name is the new tree and
the old tree sits where the new one was, to be removed. A reader resolves the old tree or
the new one, never a mix; one that resolved the old tree just before its removal gets
ENOENT and the front server falls back to the app, which answers the same. A first
publish is a plain ``rename(2)``. The front server follows no symlink and looks nothing
up but the file it serves (``front_configs``).

Where the file system cannot exchange two directories (``renameat2`` missing, or refused
with EINVAL: some network and FUSE file systems, non-Linux systems) publishing fails
loudly (``PublishFolderError``, raised by ``ensure`` before any site is written) rather
than swapping non-atomically. Folders written by the earlier layout (``sites/<slug>`` a
symlink into ``.store/<id>/<generation>/``) are still served and owned; each site's
next publish exchanges its symlink for a directory, and ``collect_garbage`` removes the
old generations.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import secrets
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from webmagic_adapters.preview_banner import NOINDEX_META
from webmagic_core.ports import Inventory, SitePublication

STORE = ".store"
OWNERS = "owners"
FILE_MODE = 0o644
DIR_MODE = 0o755
_TMP = ".tmp"
_NIL = uuid.UUID(int=0)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# What the kernel answers when the file system (or the kernel) cannot exchange.
_NO_EXCHANGE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})


class PublishFolderError(Exception):
    """The folder cannot be used (not writable, a name that cannot be a path, a file
    system that cannot exchange directories atomically...)."""


def _libc_renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28, not Linux
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


renameat2 = _libc_renameat2()


def exchange(first: Path, second: Path) -> None:
    """Swap two existing paths atomically (``renameat2(RENAME_EXCHANGE)``)."""
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available here", str(first))
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first), None, str(second))


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


def _remove(path: Path) -> None:
    """Remove a tree, a file or a symlink; nothing there is fine."""
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


class FolderPublisher:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self._fsync = fsync
        self._sites = root / "sites"
        self._hosts = root / "hosts"
        self._store = root / STORE
        self._owners = self._store / OWNERS
        self._exchange_checked = False

    def ensure(self) -> None:
        """Create the folder's skeleton (0755); raises ``PublishFolderError`` naming the
        problem when it cannot be written or cannot exchange directories atomically."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for path in (self.root, self._sites, self._hosts, self._store, self._owners):
                _mkdir(path)
            for kind in ("sites", "hosts", "host-of"):
                _mkdir(self._owners / kind)
            probe = self._store / f".probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise PublishFolderError(
                f"the publish folder {self.root} cannot be written: {error.strerror or error}"
            ) from error
        if not self._exchange_checked:
            self._check_exchange()
            self._exchange_checked = True

    def _check_exchange(self) -> None:
        first = self._store / f".probe-{secrets.token_hex(4)}-a"
        second = self._store / f".probe-{secrets.token_hex(4)}-b"
        try:
            first.mkdir()
            second.mkdir()
            self._exchange(first, second)
        finally:
            for path in (first, second):
                with contextlib.suppress(OSError):
                    path.rmdir()

    def _exchange(self, first: Path, second: Path) -> None:
        try:
            exchange(first, second)
        except OSError as error:
            if error.errno in _NO_EXCHANGE:
                raise PublishFolderError(
                    f"the file system of the publish folder {self.root} cannot exchange two "
                    f"directories atomically (renameat2 RENAME_EXCHANGE: {error.strerror}); "
                    "put WEBMAGIC_PUBLISH_DIR on a local Linux file system (ext4, xfs, btrfs, tmpfs)"
                ) from error
            raise

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
        for path in [*publication.files, *publication.host_files]:
            _check_path(path)
        self.ensure()
        site_store = self._store / str(publication.site_id)
        _mkdir(site_store)
        with self._locked(site_store):
            self._clean_site(site_store, legacy=False)  # a crashed write's trees
            try:
                self._publish_locked(publication, slug, host, site_store)
            except BaseException:
                self._clean_site(site_store, legacy=False)  # what this write left; the live site stays
                raise
            # The trees swapped out, and an old layout's generations (its links were exchanged away).
            self._clean_site(site_store, legacy=True)

    def _publish_locked(
        self, publication: SitePublication, slug: str, host: str | None, site_store: Path
    ) -> None:
        site_id = publication.site_id
        generation = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        site_tree = site_store / f"{generation}-site{_TMP}"
        self._write_tree(site_tree, publication.files)
        host_tree = site_store / f"{generation}-host{_TMP}" if host is not None else None
        if host_tree is not None:
            self._write_tree(host_tree, publication.host_files)
        with self._names_locked():
            self._put(self._sites, slug, site_tree, site_id)
            host_of = self._owners / "host-of" / str(site_id)
            previous_host = self._read_record(host_of)
            if host_tree is not None and host is not None:
                self._put(self._hosts, host, host_tree, site_id)
                self._write_record(host_of, host)
            else:
                self._forget(host_of)
            if previous_host is not None and previous_host != host:
                self._take_down(self._hosts, previous_host, owner=site_id)

    def withdraw(self, site_id: uuid.UUID, slug: str) -> None:
        _check_name(slug, "the slug")
        site_store = self._store / str(site_id)
        if self._store.is_dir():
            with self._names_locked():
                self._take_down(self._sites, slug, owner=site_id)
                host = self._read_record(self._owners / "host-of" / str(site_id))
                if host is not None:
                    self._take_down(self._hosts, host, owner=site_id)
                    self._forget(self._owners / "host-of" / str(site_id))
        if not site_store.is_dir():
            return
        with self._locked(site_store):
            self._clean_site(site_store)
        shutil.rmtree(site_store, ignore_errors=True)

    def inventory(self) -> Inventory:
        return Inventory(sites=self._links(self._sites), hosts=self._links(self._hosts))

    def remove_slug(self, slug: str) -> None:
        with self._names_locked():
            self._take_down(self._sites, _check_name(slug, "the slug"), owner=None)

    def remove_host(self, host: str) -> None:
        with self._names_locked():
            self._take_down(self._hosts, _check_name(host, "the host"), owner=None)

    def read(self, *, slug: str | None = None, host: str | None = None) -> Mapping[str, bytes] | None:
        top = self._sites / slug if slug is not None else self._hosts / (host or "")
        if not top.is_dir():
            return None
        files: dict[str, bytes] = {}
        for path in sorted(top.rglob("*")):
            if path.is_file() and not path.name.startswith("."):  # an old layout's marker
                files[path.relative_to(top).as_posix()] = path.read_bytes()
        return files

    def is_noindex(self, slug: str) -> bool:
        """A preview's page says so itself (``<meta name="robots" content="noindex">``,
        put there with the banner): nothing else marks it."""
        try:
            page = (self._sites / slug / "index.html").read_bytes()
        except OSError:
            return False
        return NOINDEX_META.encode() in page

    def collect_garbage(self) -> int:
        """Remove what no published name needs (a crashed write's trees, an old layout's
        generations, records of names that are gone); how many entries."""
        if not self._store.is_dir():
            return 0
        removed = 0
        linked = {
            target
            for folder in (self._sites, self._hosts)
            if folder.is_dir()
            for link in folder.iterdir()
            if (target := self._legacy_target(link)) is not None
        }
        for site_store in self._store.iterdir():
            if site_store.name.startswith(".gone-"):  # a removal that was interrupted
                _remove(site_store)
                removed += 1
            if site_store.name == OWNERS or not site_store.is_dir():
                continue
            with self._locked(site_store):
                for entry in site_store.iterdir():
                    if entry.name != ".lock" and entry not in linked:
                        _remove(entry)
                        removed += 1
                if not any(p.name != ".lock" for p in site_store.iterdir()):
                    shutil.rmtree(site_store, ignore_errors=True)
        with self._names_locked():
            for kind, folder in (("sites", self._sites), ("hosts", self._hosts)):
                records = self._owners / kind
                if records.is_dir():
                    for record in records.iterdir():
                        if not os.path.lexists(folder / record.name):
                            self._forget(record)
        return removed

    # -- names ---------------------------------------------------------------------------

    def _put(self, folder: Path, name: str, tree: Path, owner: uuid.UUID) -> None:
        """Make ``folder/name`` the ``tree`` (which then holds what the name held, if
        anything), and record who owns it."""
        target = folder / name
        if os.path.lexists(target):
            self._exchange(tree, target)
        else:
            try:
                os.rename(tree, target)
            except OSError as error:  # appeared meanwhile (by hand): exchange after all
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                    raise
                self._exchange(tree, target)
        if self._fsync:
            _fsync_dir(folder)
        self._write_record(self._owners / folder.name / name, str(owner))

    def _take_down(self, folder: Path, name: str, *, owner: uuid.UUID | None) -> None:
        """Remove ``folder/name`` (only if ``owner`` owns it, when given)."""
        target = folder / name
        if owner is not None and self._owner(folder, name) != owner:
            return
        if os.path.lexists(target):
            # Out of sight in one step, then removed at leisure.
            graveyard = self._store / f".gone-{secrets.token_hex(6)}"
            os.rename(target, graveyard)
            if self._fsync:
                _fsync_dir(folder)
            _remove(graveyard)
        self._forget(self._owners / folder.name / name)

    def _owner(self, folder: Path, name: str) -> uuid.UUID | None:
        legacy = self._legacy_target(folder / name)
        if legacy is not None:
            with contextlib.suppress(ValueError):
                return uuid.UUID(legacy.parent.name)
            return None
        if not (folder / name).is_dir():
            return None
        recorded = self._read_record(self._owners / folder.name / name)
        if recorded is None:
            return None
        try:
            return uuid.UUID(recorded)
        except ValueError:
            return None

    def _links(self, folder: Path) -> dict[str, uuid.UUID]:
        """Every name in ``folder`` with its owner; a name nobody owns (a stray directory
        or file) has the nil id."""
        found: dict[str, uuid.UUID] = {}
        if not folder.is_dir():
            return found
        for entry in folder.iterdir():
            if entry.name.startswith("."):
                continue
            owner = self._owner(folder, entry.name)
            found[entry.name] = owner if owner is not None else _NIL
        return found

    def _legacy_target(self, link: Path) -> Path | None:
        """The generation directory an old layout's symlink names
        (``../.store/<id>/<generation>/site``), or None."""
        try:
            target = os.readlink(link)
        except OSError:
            return None
        parts = Path(target).parts
        if len(parts) != 5 or parts[0] != ".." or parts[1] != STORE:
            return None
        return self._store / parts[2] / parts[3]

    def _read_record(self, path: Path) -> str | None:
        try:
            return path.read_text().strip() or None
        except OSError:
            return None

    def _write_record(self, path: Path, value: str) -> None:
        _mkdir(path.parent)
        temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}{_TMP}"
        self._write_file(temporary, value.encode())
        os.replace(temporary, path)

    @staticmethod
    def _forget(record: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            record.unlink()

    # -- writing -------------------------------------------------------------------------

    def _write_tree(self, top: Path, files: Mapping[str, bytes]) -> None:
        _mkdir(top)
        for path, data in files.items():
            *folders, _ = parts = _check_path(path)
            here = top
            for folder in folders:
                here = here / folder
                _mkdir(here)
            self._write_file(top.joinpath(*parts), data)
        if self._fsync:
            for folder, _dirs, _files in os.walk(top, topdown=False):
                _fsync_dir(Path(folder))

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

    @staticmethod
    def _clean_site(site_store: Path, *, legacy: bool = True) -> None:
        """Remove the trees in the site's store (called under its lock): those written or
        swapped out (``*.tmp``), and with ``legacy`` an old layout's generations too (a
        link of the site's left elsewhere then dangles: the front server falls back to the
        app, and ``publish all`` removes the link)."""
        for entry in site_store.iterdir():
            if entry.name != ".lock" and (legacy or entry.name.endswith(_TMP)):
                _remove(entry)

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

    @contextlib.contextmanager
    def _names_locked(self) -> Iterator[None]:
        """Changes of names and of their owners, one at a time across processes (short:
        the trees are written before)."""
        _mkdir(self._store)
        fd = os.open(self._store / "names.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
