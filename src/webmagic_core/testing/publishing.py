"""``Publisher`` in memory: the folder as dictionaries, every change one assignment
(atomic, as the folder adapter's directory exchange is)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import attrs

from webmagic_core.ports import Inventory, SitePublication


@attrs.frozen
class _Entry:
    site_id: uuid.UUID
    files: Mapping[str, bytes]
    noindex: bool = False


@attrs.define
class FakePublisher:
    sites: dict[str, _Entry] = attrs.field(factory=dict)
    hosts: dict[str, _Entry] = attrs.field(factory=dict)
    # Recording: how many times a site was written (coalescing tests count these).
    writes: int = 0
    # The next ``failures`` publishes raise this (a full disk, say).
    failures: int = 0
    error: Exception = attrs.field(factory=lambda: OSError("No space left on device"))

    def publish(self, publication: SitePublication) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        self._drop(publication.site_id, keep_slug=publication.slug, keep_host=publication.host)
        self.sites[publication.slug] = _Entry(
            publication.site_id, dict(publication.files), publication.noindex
        )
        if publication.host is not None:
            self.hosts[publication.host] = _Entry(publication.site_id, dict(publication.host_files))
        self.writes += 1

    def withdraw(self, site_id: uuid.UUID, slug: str) -> None:
        entry = self.sites.get(slug)
        if entry is not None and entry.site_id == site_id:
            del self.sites[slug]
        self._drop(site_id, keep_slug=None, keep_host=None)

    def _drop(self, site_id: uuid.UUID, *, keep_slug: str | None, keep_host: str | None) -> None:
        for slug in [s for s, e in self.sites.items() if e.site_id == site_id and s != keep_slug]:
            del self.sites[slug]
        for host in [h for h, e in self.hosts.items() if e.site_id == site_id and h != keep_host]:
            del self.hosts[host]

    def inventory(self) -> Inventory:
        return Inventory(
            sites={slug: e.site_id for slug, e in self.sites.items()},
            hosts={host: e.site_id for host, e in self.hosts.items()},
        )

    def remove_slug(self, slug: str) -> None:
        self.sites.pop(slug, None)

    def remove_host(self, host: str) -> None:
        self.hosts.pop(host, None)

    def read(self, *, slug: str | None = None, host: str | None = None) -> Mapping[str, bytes] | None:
        entry = self.sites.get(slug) if slug is not None else self.hosts.get(host or "")
        return dict(entry.files) if entry is not None else None

    def is_noindex(self, slug: str) -> bool:
        entry = self.sites.get(slug)
        return entry is not None and entry.noindex
