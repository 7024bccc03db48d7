"""Page bodies on local disk, by digest: what a hosting process read from the database once.

A stored page is content-addressed (``rendered_pages`` names its body by its SHA-256)
and immutable, so a copy on local disk never goes stale and needs no invalidation: a new
version or status names another digest. A page-cache miss then costs a file read (a few
µs, from the OS page cache, which is not the process's memory) instead of a database
read (~50 µs on SQLite; a worker-thread hop and a round trip on PostgreSQL).

Layout: ``<root>/<digest[:2]>/<digest>``. Files are written under a temporary name in
the same folder and renamed into place, so a reader never sees a file being written; a
file that is nevertheless not what its name says (truncated by a crash before the data
reached the disk, altered by hand) fails the digest check made on every read, is removed,
and is written again from the database by the next miss. Several processes may share the
folder (same bytes under the same name: a rename over another process's copy is harmless).

Bounded by ``max_bytes``: each process counts the folder's bytes once (at its first
write) and then what it writes; past the budget it empties whole shard folders (one of
256, in turn, starting from a random one) until the folder is under 90% of it. Shards
hold random digests, so this is a random eviction, good enough for a cache whose misses
cost one database read. Deleting the folder at any time is safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import secrets
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

_HEX = frozenset("0123456789abcdef")
DIGEST_CHARS = 64
SHARDS = [f"{i:02x}" for i in range(256)]
# Evict down to this share of the budget, so that eviction is not run on every write.
LOW_WATER = 0.9
# A temporary file this old is no write in progress (a write takes milliseconds).
ABANDONED_AFTER_SECONDS = 60


def _is_digest(digest: str) -> bool:
    # Names come from the database; checked anyway, as they become paths.
    return len(digest) == DIGEST_CHARS and _HEX.issuperset(digest)


class PageBodyFiles:
    """A bounded folder of bodies by SHA-256 (see the module doc). Thread-safe."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive (no cache: no PageBodyFiles)")
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._usage: int | None = None  # counted at the first write
        self._next_shard = random.randrange(len(SHARDS))
        self._failed = False

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def read(self, digest: str) -> bytes | None:
        """The body named ``digest``, or None (absent, unreadable, or not those bytes)."""
        if not _is_digest(digest):
            return None
        path = os.path.join(self.root, digest[:2], digest)
        try:
            # Unbuffered: one fstat and one read of the whole file (~7 µs for 22 KB, against
            # ~30 µs for os.read with a large buffer, measured).
            with open(path, "rb", buffering=0) as handle:
                body = handle.readall()
        except OSError:
            return None
        if hashlib.sha256(body).hexdigest() != digest:
            logger.warning("page body file %s does not match its name: removed", path)
            with contextlib.suppress(OSError):
                os.unlink(path)
            return None
        return body

    def write(self, digest: str, body: bytes) -> None:
        """Keep ``body`` (the bytes the database names ``digest``); never raises: a cache
        that cannot be written is only slower."""
        if not _is_digest(digest) or len(body) > self.max_bytes:
            return
        folder = self.root / digest[:2]
        temporary = folder / f".{digest}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                handle.write(body)
            os.replace(temporary, folder / digest)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            if not self._failed:  # once per process, not per request
                self._failed = True
                logger.warning("cannot write page bodies under %s: %s", self.root, error)
            return
        self._account(len(body), keep=digest[:2])

    def _account(self, added: int, *, keep: str) -> None:
        """Count ``added`` bytes, and evict past the budget (never from the shard ``keep``,
        where the body just written is: it is about to be read again)."""
        with self._lock:
            if self._usage is None:
                self._usage = self._count()
            else:
                self._usage += added
            if self._usage <= self.max_bytes:
                return
            target = int(self.max_bytes * LOW_WATER)
            for _ in SHARDS:
                if self._usage <= target:
                    break
                shard = SHARDS[self._next_shard]
                if shard != keep:
                    self._usage -= self._empty(self.root / shard)
                self._next_shard = (self._next_shard + 1) % len(SHARDS)

    def _count(self) -> int:
        total = 0
        for shard in SHARDS:
            with contextlib.suppress(OSError), os.scandir(self.root / shard) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        total += entry.stat(follow_symlinks=False).st_size
        return total

    def _empty(self, shard: Path) -> int:
        """Remove the shard's files; the bytes freed. A temporary file (``.<digest>...``)
        is left while it may still be another process's write in progress: removing it
        would fail that write; one a crash left behind goes once it is old."""
        freed = 0
        abandoned = time.time() - ABANDONED_AFTER_SECONDS
        with contextlib.suppress(OSError), os.scandir(shard) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    stat = entry.stat(follow_symlinks=False)
                    if entry.name.startswith(".") and stat.st_mtime > abandoned:
                        continue
                    os.unlink(entry.path)
                    freed += stat.st_size
        return freed
