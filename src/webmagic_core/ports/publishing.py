"""Static publishing: the folder a front server (nginx, Caddy) serves, and the queue of
sites to write there (filled in the transaction of each change, drained after commit)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs


@attrs.frozen
class SitePublication:
    """What one site serves, as files: under ``/{slug}`` and, with a verified custom
    domain, at that domain's root. ``noindex``: a preview (its page, as the banner
    renders it, says so in a ``<meta name="robots">``: a front server adds no header)."""

    site_id: uuid.UUID
    slug: str
    files: Mapping[str, bytes]
    noindex: bool = False
    host: str | None = None
    host_files: Mapping[str, bytes] = attrs.field(factory=dict)


@attrs.frozen
class Inventory:
    """What the folder holds: slug -> site id, host -> site id."""

    sites: Mapping[str, uuid.UUID]
    hosts: Mapping[str, uuid.UUID]


class Publisher(Protocol):
    """Writes what sites serve where a front server reads it.

    Every change to one site is atomic: a reader sees the site's files as they were or
    as they are now, never a mix nor a half-written file."""

    def publish(self, publication: SitePublication) -> None:
        """Replace whatever the site had (its slug's files, its host's) with this; a host
        the site had before and no longer has is removed."""
        ...

    def withdraw(self, site_id: uuid.UUID, slug: str) -> None:
        """Remove the site's files (its slug's and its host's); nothing there is fine."""
        ...

    def inventory(self) -> Inventory: ...

    def remove_slug(self, slug: str) -> None:
        """Remove what is published under ``slug``, whoever it belonged to."""
        ...

    def remove_host(self, host: str) -> None:
        """Remove what is published for ``host``, whoever it belonged to."""
        ...

    def read(self, *, slug: str | None = None, host: str | None = None) -> Mapping[str, bytes] | None:
        """The files published under ``slug`` (or for ``host``), None when there are none."""
        ...

    def is_noindex(self, slug: str) -> bool:
        """Whether the site under ``slug`` is published as a preview."""
        ...


@attrs.frozen
class PublishClaim:
    """A publish request held by one worker: ``generation`` is the request count it
    saw; a request made meanwhile bumps it, and the site is published again."""

    site_id: uuid.UUID
    generation: int
    attempts: int


class PublishQueue(Protocol):
    """Sites whose files must be written again: at most one row per site (requests
    coalesce), written in the transaction of the change that causes them."""

    def request(self, site_id: uuid.UUID, now: dt.datetime) -> None:
        """Ask for the site to be published (a no-op where publishing is off)."""
        ...

    def claim(self, now: dt.datetime, *, limit: int, lease: dt.timedelta) -> Sequence[PublishClaim]:
        """Requests due at ``now`` and not held by another worker, oldest first, at most
        ``limit``, held until ``now + lease``. Concurrent callers never get the same site
        (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the write lock on SQLite)."""
        ...

    def complete(self, claim: PublishClaim) -> bool:
        """Done: the request goes, unless another came meanwhile (then it is released,
        due at once). True when it went."""
        ...

    def fail(self, claim: PublishClaim, error: str, retry_at: dt.datetime) -> None:
        """Released, tried again at ``retry_at`` (or at once if a request came meanwhile)."""
        ...

    def pending(self) -> int:
        """How many sites wait to be published."""
        ...

    def due(self, now: dt.datetime) -> bool:
        """Whether any request is due and unheld (a read, no lock: the idle poll)."""
        ...
