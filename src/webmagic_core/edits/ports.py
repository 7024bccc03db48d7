"""What edits need from the outside world: an engine that drafts, and storage."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs

from webmagic_core.edits.model import EditRequest, EditStatus
from webmagic_core.ports import UnitOfWork


@attrs.frozen
class DraftRequest:
    """What an engine is given: the owner's words and the site's text files as uploaded
    (``index.html``, stylesheets, scripts...; images and fonts are left out)."""

    business_name: str
    instructions: str
    files: Mapping[str, str]


@attrs.frozen
class Draft:
    """An engine's answer: a one-line summary and the files it replaces (by path; a file
    left out is kept as it is)."""

    summary: str
    files: Mapping[str, str]


class EditFailed(Exception):
    """An engine gave up. ``reason`` is for the owner (plain words, no internals);
    ``detail`` is for operators (status codes, what was wrong with the reply)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class EditEngine(Protocol):
    """Turns instructions and the current files into a draft.

    ``automatic`` is False for the manual engine: workers leave edits pending for an
    operator (``webmagic edits draft``). An automatic engine either returns a draft or
    raises ``EditFailed`` after its own bounded retries; it never writes anything."""

    @property
    def name(self) -> str: ...

    @property
    def automatic(self) -> bool: ...

    def draft(self, request: DraftRequest) -> Draft: ...


class EditRepository(Protocol):
    def add(self, edit: EditRequest) -> None:
        """Insert (``Conflict`` if the id exists)."""
        ...

    def save(self, edit: EditRequest, bodies: Mapping[str, bytes] | None = None) -> None:
        """Write everything but the id, site, customer, instructions and creation time.
        ``bodies`` (digest -> bytes) stores what the draft files name, once per digest
        (``ValueError`` for a digest neither given nor stored; ``LookupError`` if never
        added)."""
        ...

    def get(self, edit_id: uuid.UUID, *, for_update: bool = False) -> EditRequest | None: ...

    def for_site(self, site_id: uuid.UUID, *, limit: int = 100) -> Sequence[EditRequest]:
        """Newest first (``created_at``, then insertion)."""
        ...

    def list(self, *, status: EditStatus | None = None, limit: int = 100) -> Sequence[EditRequest]:
        """Newest first, optionally of one status."""
        ...

    def count_since(self, site_id: uuid.UUID, since: dt.datetime) -> int:
        """Requests for the site created at or after ``since`` that did not fail (the
        monthly quota: a request the engine could not draft is not counted)."""
        ...

    def claim_next(self, now: dt.datetime, lease: dt.timedelta, *, max_attempts: int) -> EditRequest | None:
        """The oldest pending edit not held by another worker (``claimed_until`` unset or
        ``<= now``) with fewer than ``max_attempts`` claims, claimed (``EditRequest.claim``)
        and saved. Concurrent callers never get the same edit (``FOR UPDATE SKIP LOCKED``
        on PostgreSQL; the write lock on SQLite)."""
        ...

    def exhausted(self, now: dt.datetime, *, max_attempts: int, limit: int = 100) -> Sequence[EditRequest]:
        """Pending edits whose last claim has expired after ``max_attempts`` claims: a
        worker died drafting each of them that many times."""
        ...

    def count_by_status(self) -> dict[EditStatus, int]: ...


class EditUnitOfWork(UnitOfWork, Protocol):
    @property
    def edits(self) -> EditRepository: ...


class EditUnitOfWorkFactory(Protocol):
    def __call__(self) -> EditUnitOfWork: ...


class PreviewLinks(Protocol):
    """Signed, expiring tokens naming one edit's draft (the preview link)."""

    def token(self, edit_id: uuid.UUID) -> str: ...

    def edit_id(self, token: str) -> uuid.UUID | None:
        """The edit a token names, or None when it is tampered, malformed or expired."""
        ...
