"""An in-memory LRU cache of rendered pages, bounded by a byte budget.

Keys name an immutable rendering, e.g. (site id, version number, serve mode, asset, ...),
so an entry never goes stale: a new version or status gives a new key, and the old
entries age out by LRU. Callers still look up the site's head on every request; this
cache only saves loading and rendering the version's files.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar


class Sized(Protocol):
    @property
    def size(self) -> int:
        """Bytes this entry costs against the budget."""
        ...


V = TypeVar("V", bound=Sized)


class PageCache(Generic[V]):
    """Thread-safe LRU map whose entries' total ``size`` stays within ``max_bytes``.

    An entry larger than the whole budget is not stored (it would evict everything
    else and then itself); ``max_bytes=0`` disables caching.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, entry: V) -> None:
        size = entry.size
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries
