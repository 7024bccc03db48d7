"""What configures the edit service, and the values it answers with."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence

import attrs

from webmagic_core.edits.model import EditRequest, EditStatus
from webmagic_core.lifecycle import SiteStatus, policy
from webmagic_core.site_files import VersionFile

# Sites whose owner may ask for, approve and restore changes (the lifecycle table says:
# owned, active, past due; a suspended site -> 409).
EDITABLE = frozenset(s for s in SiteStatus if policy(s).edits_allowed)
OPERATOR = "operator"
# What the owner reads when the engine gave up for a reason they cannot act on.
GAVE_UP = (
    "Our assistant could not prepare this change. We have been told and will look at it; "
    "you can also ask again in other words."
)


def month_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now: dt.datetime) -> dt.datetime:
    start = month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


@attrs.frozen
class EditConfig:
    per_month: int  # WEBMAGIC_EDITS_PER_MONTH, per site and calendar month (UTC)
    site_url: Callable[[str], str]  # slug -> where the site is served
    manage_url: Callable[[str], str]  # slug -> the owner's page for the site
    preview_url: Callable[[str], str]  # token -> the draft's preview address
    admin_email: str | None = None
    # A worker holds a claimed edit this long; an engine call must end well within it.
    lease: dt.timedelta = dt.timedelta(minutes=5)
    # Claims that never finished (a worker died) before the edit is failed.
    max_attempts: int = 3


@attrs.frozen
class EditView:
    """An edit with its site's slug (what the API, the portal and the CLI show)."""

    edit: EditRequest
    slug: str
    business_name: str
    preview_url: str | None


@attrs.frozen
class EditListing:
    """A site's edit requests, newest first, and for each ready one the paths its draft
    changes."""

    views: Sequence[EditView]
    changed: Mapping[uuid.UUID, Sequence[str]]


@attrs.frozen
class DraftPreview:
    """What the preview link shows: the draft's files, on behalf of a site."""

    edit: EditRequest
    slug: str
    business_name: str
    files: tuple[VersionFile, ...]


@attrs.frozen
class WorkOutcome:
    edit_id: uuid.UUID
    status: EditStatus  # ready, failed, or pending (claim lost: another worker or an operator won)
