"""Building site versions by hand (tests, benchmarks), without a ``SiteService``."""

from __future__ import annotations

import datetime as dt
import uuid

from webmagic_core.ports import UnitOfWork
from webmagic_core.site_files import INDEX, SiteFiles, prepare_files
from webmagic_core.sites import Actor, SiteContent, SiteVersion, VersionCause


def new_version(
    site_id: uuid.UUID,
    number: int,
    content: SiteContent | SiteFiles,
    *,
    cause: VersionCause = VersionCause.PUBLISH,
    note: str = "test",
    created_by: Actor = Actor.ADMIN,
    created_at: dt.datetime,
) -> tuple[SiteVersion, dict[str, bytes]]:
    """A version of ``content`` served as uploaded, and the bodies ``add_version`` needs."""
    files = content if isinstance(content, SiteFiles) else content.files()
    prepared = prepare_files(files)
    version = SiteVersion(
        site_id=site_id,
        number=number,
        files=prepared.files,
        cause=cause,
        created_by=created_by,
        created_at=created_at,
        note=note,
    )
    return version, prepared.bodies


def page_of(work: UnitOfWork, version: SiteVersion) -> str:
    """The uploaded ``index.html`` of a stored version, read through a unit of work."""
    file = version.file(INDEX)
    assert file is not None, f"version {version.number} has no {INDEX}"
    body = work.sites.get_body(file.digest)
    assert body is not None, f"no body stored for {INDEX} of version {version.number}"
    return body.decode("utf-8")
