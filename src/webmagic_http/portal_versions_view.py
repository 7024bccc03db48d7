"""The versions section of the portal's site page (``portal/site/versions.html``) and why a
version exists, in words. No routes: the site page (``portal_owner``) embeds it, one
version's page lives in ``portal_versions``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from webmagic_core.sites import VersionCause
from webmagic_http.portal_words import day

CAUSES = {
    "import": "The website was set up",
    "publish": "A new version was published",
    "edit": "Your requested change",
    "restore": "An earlier version was put back",
}


# Operators' notes that say no more than the cause does (the defaults of the CLI and services).
_PLAIN_NOTES = frozenset({"", "created", "published", "publish", "import", "demo site"})


class VersionLike(Protocol):
    """A ``SiteVersionSummary`` or the site page's ``VersionRow``."""

    @property
    def number(self) -> int: ...
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def cause(self) -> VersionCause: ...
    @property
    def note(self) -> str: ...
    @property
    def restored_from(self) -> int | None: ...


def cause_words(version: VersionLike) -> str:
    """Why a version exists, in words: the edit's summary, the version put back, or an
    operator's own note when it says more than "published"."""
    match version.cause:
        case VersionCause.EDIT:
            return f"{CAUSES['edit']}: {version.note}" if version.note else CAUSES["edit"]
        case VersionCause.RESTORE if version.restored_from is not None:
            return f"Version {version.restored_from} was put back"
        case VersionCause.PUBLISH:
            note = version.note.strip()
            if note.lower() in _PLAIN_NOTES or note.lower().endswith("from the cli"):
                return CAUSES["publish"]
            return note[:1].upper() + note[1:]
    return CAUSES[version.cause.value]


# The site page lists this many versions, newest first; "show all" lists every one.
VERSIONS_SHOWN = 8


def versions_section(
    versions: Sequence[VersionLike], current: int, *, everything: bool = False
) -> dict[str, Any]:
    """The context of ``portal/site/versions.html``: the rows newest first (the most recent
    ``VERSIONS_SHOWN`` unless ``everything``) and how many there are in all."""
    shown = versions if everything else versions[:VERSIONS_SHOWN]
    return {
        "total": len(versions),
        "rows": [
            {
                "number": v.number,
                "on": day(v.created_at),
                "at": v.created_at.astimezone(dt.UTC).isoformat(),
                "cause": cause_words(v),
                "current": v.number == current,
            }
            for v in shown
        ],
    }
