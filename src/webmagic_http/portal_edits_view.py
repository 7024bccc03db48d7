"""The edit requests section of the portal's site page (``portal/site/edits.html``) and the
preview links it shows. No routes: the site page (``portal_owner``) embeds it, the forms
live in ``portal_edits``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from webmagic_core.edits.model import MAX_INSTRUCTIONS, EditStatus
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.ports import Clock, EditRow
from webmagic_core.services.edits import EDITABLE, EditService
from webmagic_http.portal_words import day

EDIT_NOTICES = {
    "edit_asked": "Thanks! We are working on your change; we will email you when it is ready to look at.",
    "edit_applied": "Your change is live.",
    "edit_rejected": "The change was set aside. Your site stays as it is.",
    "version_restored": "The earlier version is back online (as a new version; nothing was deleted).",
}
STATUS_WORDS = {
    EditStatus.PENDING: ("Being prepared", "info"),
    EditStatus.READY: ("Ready for you to look at", "warn"),
    EditStatus.APPLIED: ("Live", "ok"),
    EditStatus.REJECTED: ("Set aside", "off"),
    EditStatus.FAILED: ("Could not be done", "off"),
}


# The site page lists every open request (being prepared, or ready to look at) and this
# many of the closed ones, newest first; "show all" lists every one.
CLOSED_SHOWN = 5
_OPEN = (EditStatus.PENDING, EditStatus.READY)


def edit_section(
    edits: Sequence[EditRow],
    changed: Mapping[uuid.UUID, Sequence[str]],
    preview_url: Callable[[uuid.UUID], str],
    *,
    per_month: int,
    site_status: SiteStatus,
    everything: bool = False,
) -> dict[str, Any]:
    """The context of ``portal/site/edits.html``: the form, and the requests newest first
    (the open ones and the ``CLOSED_SHOWN`` most recent closed ones, unless ``everything``)."""
    shown = edits
    if not everything:
        closed = 0
        shown = []
        for edit in edits:
            if edit.status in _OPEN:
                shown.append(edit)
            elif closed < CLOSED_SHOWN:
                closed += 1
                shown.append(edit)
    rows = []
    approvable = site_status in EDITABLE
    for edit in shown:
        status = edit.status
        label, tone = STATUS_WORDS[status]
        ready = status is EditStatus.READY
        rows.append(
            {
                "id": str(edit.id),
                "instructions": edit.instructions,
                "status": status.value,
                "label": label,
                "tone": tone,
                "asked_on": day(edit.created_at),
                "summary": edit.summary,
                "preview_url": preview_url(edit.id) if ready else None,
                "version": edit.version,
                "reason": edit.reason,
                "changed": list(changed.get(edit.id, ())),
                "can_approve": ready and approvable,
                "can_reject": ready or status is EditStatus.PENDING,
            }
        )
    return {
        "can_ask": approvable,
        "max_length": MAX_INSTRUCTIONS,
        "per_month": per_month,
        "requests": rows,
        "total": len(edits),
    }


class PreviewLinks:
    """Preview links of ready edits, signed once a minute per edit rather than on every
    view of the page (signing was a twentieth of the page's time): a link shown is at most
    a minute older than one signed on the spot, out of its seven days."""

    def __init__(self, edits: EditService, clock: Clock, *, bucket_seconds: int = 60) -> None:
        self._edits, self._clock, self._bucket = edits, clock, bucket_seconds
        self._signed: dict[uuid.UUID, tuple[int, str]] = {}

    def url(self, edit_id: uuid.UUID) -> str:
        bucket = int(self._clock.now().timestamp()) // self._bucket
        cached = self._signed.get(edit_id)
        if cached is not None and cached[0] == bucket:
            return cached[1]
        if len(self._signed) > 4096:
            self._signed.clear()  # bounded; stale buckets go with it
        url = self._edits.preview_url(edit_id)
        self._signed[edit_id] = (bucket, url)
        return url
