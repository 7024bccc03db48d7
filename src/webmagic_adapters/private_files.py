"""Owner-only files and folders for what the app keeps on disk.

The data folder holds the secret key, the SQLite database (with customers, password hashes
and pending mail) and the outgoing mail written to files: any other local user, or anyone
handed a copy of a world-readable backup, could read a sign-in link or the key. Folders the
app creates or owns are 0700, files 0600, whatever the process umask says.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# SQLite's side files: it creates them with the database file's own permissions.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and any missing parents) owner-only, and make ``path`` itself
    owner-only if it exists. Parents that existed already are left alone (not ours)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by a process starting at the same moment
            folder.mkdir(mode=PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode is subject to the umask; an old folder may be 0755
    return path


def private_tree(path: Path) -> None:
    """``path`` and every folder under it 0700, every file 0600 (symbolic links skipped:
    what they point at is not ours). For a data folder made by an earlier version."""
    private_dir(path)
    for entry in path.rglob("*"):
        if entry.is_symlink():
            continue
        wanted = PRIVATE_DIR if entry.is_dir() else PRIVATE_FILE
        if entry.stat().st_mode & 0o777 != wanted:
            os.chmod(entry, wanted)


def private_file(path: Path) -> Path:
    """Create ``path`` empty and owner-only if it does not exist (never truncating it),
    and make it owner-only if it does."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
    finally:
        os.close(descriptor)
    return path


def private_sqlite_file(path: Path) -> None:
    """The database file owner-only before SQLite opens it (so the ``-wal`` and ``-shm``
    files it creates are too), and any side files left from an earlier run.

    An existing file is never opened here, only chmod-ed: closing *any* descriptor of a
    file drops every POSIX lock the process holds on it, SQLite's included. Opening and
    closing the database each time a connection is made (as this once did) let another
    process that closed its last connection believe it was the last user, checkpoint and
    delete the ``-wal`` file under this process's open connections, whose later commits
    then went to a deleted file that no other process could see."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        os.chmod(path, PRIVATE_FILE)
    else:
        # Ours alone: created just now, so no connection of this process has it open.
        try:
            os.fchmod(descriptor, PRIVATE_FILE)
        finally:
            os.close(descriptor)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, PRIVATE_FILE)
