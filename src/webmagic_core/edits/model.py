"""Edit requests: an owner asks for a change in plain words, an engine (a language model
or an operator) drafts it, the owner previews the draft and approves or rejects it.

Lifecycle (the methods of ``EditRequest``)::

    pending --draft-->   ready    (summary, draft files, base_version set)
    pending --fail-->    failed   (reason for the owner, detail for operators)
    ready   --approve--> applied  (version = the new live version)
    pending/ready --reject--> rejected

A pending edit is claimed by one worker at a time (``claim``: a random claim id and a
lease); a worker that dies mid-draft leaves the claim to expire, and only the holder of
the current claim may draft or fail it, so an edit is never drafted twice.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import attrs

from webmagic_core.errors import Conflict, InvalidTransition, ValidationError
from webmagic_core.site_files import VersionFile

MAX_INSTRUCTIONS = 4000
MAX_SUMMARY = 500
MAX_REASON = 1000


class EditStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    APPLIED = "applied"
    REJECTED = "rejected"
    FAILED = "failed"


OPEN_STATUSES = frozenset({EditStatus.PENDING, EditStatus.READY})


def validate_instructions(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise ValidationError("the instructions are empty: say what should change", field="instructions")
    if len(cleaned) > MAX_INSTRUCTIONS:
        raise ValidationError(
            f"the instructions are {len(cleaned):,} characters; the limit is {MAX_INSTRUCTIONS:,}",
            field="instructions",
        )
    if "\x00" in cleaned:
        raise ValidationError("the instructions contain a NUL character", field="instructions")
    return cleaned


def one_line(text: str, limit: int) -> str:
    cleaned = " ".join(text.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


@attrs.define
class EditRequest:
    id: uuid.UUID
    site_id: uuid.UUID
    customer_id: uuid.UUID
    instructions: str
    status: EditStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    # Set with the draft: the live version the draft was made from, and what it holds.
    base_version: int | None = None
    summary: str | None = None
    draft_files: tuple[VersionFile, ...] = ()
    drafted_at: dt.datetime | None = None
    drafted_by: str | None = None  # the engine's name, or "operator"
    # Set when applied: the version it became.
    version: int | None = None
    # Set when failed: what the owner is told, and what operators see.
    reason: str | None = None
    detail: str | None = None
    # The worker holding the edit while it drafts, until when; how many claims so far.
    claim_id: uuid.UUID | None = None
    claimed_until: dt.datetime | None = None
    attempts: int = 0

    @classmethod
    def new(
        cls, *, site_id: uuid.UUID, customer_id: uuid.UUID, instructions: str, now: dt.datetime
    ) -> EditRequest:
        return cls(
            id=uuid.uuid4(),
            site_id=site_id,
            customer_id=customer_id,
            instructions=validate_instructions(instructions),
            status=EditStatus.PENDING,
            created_at=now,
            updated_at=now,
        )

    def claim(self, now: dt.datetime, lease: dt.timedelta) -> uuid.UUID:
        self._require(EditStatus.PENDING, "claim")
        if self.claimed_until is not None and self.claimed_until > now:
            raise Conflict(f"edit {self.id} is being drafted by another worker")
        self.claim_id = uuid.uuid4()
        self.claimed_until = now + lease
        self.attempts += 1
        return self.claim_id

    def holds(self, claim_id: uuid.UUID | None) -> bool:
        """Whether ``claim_id`` may still finish this edit (``None``: an operator, who may
        finish any pending edit: a worker's later result is then discarded)."""
        return self.status is EditStatus.PENDING and (claim_id is None or claim_id == self.claim_id)

    def draft(
        self,
        *,
        base_version: int,
        summary: str,
        files: tuple[VersionFile, ...],
        by: str,
        now: dt.datetime,
    ) -> None:
        self._require(EditStatus.PENDING, "draft")
        summary = one_line(summary, MAX_SUMMARY)
        if not summary:
            raise ValidationError("the draft needs a one-line summary of what changed", field="summary")
        self.status = EditStatus.READY
        self.base_version = base_version
        self.summary = summary
        self.draft_files = files
        self.drafted_at = now
        self.drafted_by = by
        self._release(now)

    def fail(self, *, reason: str, detail: str, now: dt.datetime) -> None:
        self._require(EditStatus.PENDING, "fail")
        reason = one_line(reason, MAX_REASON)
        if not reason:
            raise ValidationError("say why the edit failed (the owner reads it)", field="reason")
        self.status = EditStatus.FAILED
        self.reason = reason
        self.detail = one_line(detail, MAX_REASON) or reason
        self._release(now)

    def apply(self, *, live_version: int, new_version: int, now: dt.datetime) -> None:
        """ready -> applied; refused when the live version moved on since the draft."""
        self._require(EditStatus.READY, "approve")
        if live_version != self.base_version:
            raise Conflict(
                f"the live site changed since this draft was made (it was made from version "
                f"{self.base_version}; version {live_version} is live now): ask for the change again"
            )
        self.status = EditStatus.APPLIED
        self.version = new_version
        self.updated_at = now

    def reject(self, now: dt.datetime) -> None:
        if self.status not in OPEN_STATUSES:
            raise InvalidTransition(f"a {self.status.value} edit cannot be rejected")
        self.status = EditStatus.REJECTED
        self._release(now)

    def _release(self, now: dt.datetime) -> None:
        self.claim_id = None
        self.claimed_until = None
        self.updated_at = now

    def _require(self, status: EditStatus, action: str) -> None:
        if self.status is not status:
            raise InvalidTransition(
                f"only a {status.value} edit can be {_PAST[action]}; this one is {self.status.value}"
            )


_PAST = {"claim": "claimed", "draft": "drafted", "fail": "failed", "approve": "approved"}
