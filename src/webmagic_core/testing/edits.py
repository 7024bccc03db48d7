"""Fakes for edits: the repository (in the fake store, so it rolls back with the rest),
a unit of work holding it, a scripted engine and preview links. They pass the same
contract suites as the real adapters."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence

import attrs

from webmagic_core.edits.model import EditRequest, EditStatus
from webmagic_core.edits.ports import Draft, DraftRequest, EditFailed
from webmagic_core.errors import Conflict
from webmagic_core.ports import Clock
from webmagic_core.testing.fakes import FakeSiteRepository, FakeUnitOfWork, _Store

PREVIEW_LIFETIME = dt.timedelta(days=7)


def _copy(edit: EditRequest) -> EditRequest:
    return attrs.evolve(edit)


@attrs.define
class FakeEditRepository:
    store: _Store

    def add(self, edit: EditRequest) -> None:
        if edit.id in self.store.edits:
            raise Conflict(f"edit {edit.id} exists")
        self.store.edits[edit.id] = _copy(edit)

    def save(self, edit: EditRequest, bodies: Mapping[str, bytes] | None = None) -> None:
        if edit.id not in self.store.edits:
            raise LookupError(f"edit {edit.id} was never added")
        if bodies is not None:
            FakeSiteRepository(self.store).store_bodies(edit.draft_files, bodies)
        self.store.edits[edit.id] = _copy(edit)

    def get(self, edit_id: uuid.UUID, *, for_update: bool = False) -> EditRequest | None:
        edit = self.store.edits.get(edit_id)
        return _copy(edit) if edit is not None else None

    def _newest(self, keep: Callable[[EditRequest], bool], limit: int) -> Sequence[EditRequest]:
        # Insertion order breaks ties in time, as ``seq`` does in SQL.
        found = [e for e in self.store.edits.values() if keep(e)]
        ordered = sorted(enumerate(found), key=lambda pair: (pair[1].created_at, pair[0]), reverse=True)
        return [_copy(e) for _, e in ordered[: max(limit, 0)]]

    def for_site(self, site_id: uuid.UUID, *, limit: int = 100) -> Sequence[EditRequest]:
        return self._newest(lambda e: e.site_id == site_id, limit)

    def list(self, *, status: EditStatus | None = None, limit: int = 100) -> Sequence[EditRequest]:
        return self._newest(lambda e: status is None or e.status is status, limit)

    def count_since(self, site_id: uuid.UUID, since: dt.datetime) -> int:
        return sum(
            1
            for e in self.store.edits.values()
            if e.site_id == site_id and e.created_at >= since and e.status is not EditStatus.FAILED
        )

    def claim_next(self, now: dt.datetime, lease: dt.timedelta, *, max_attempts: int) -> EditRequest | None:
        for edit in sorted(self.store.edits.values(), key=lambda e: e.created_at):
            free = edit.claimed_until is None or edit.claimed_until <= now
            if edit.status is EditStatus.PENDING and free and edit.attempts < max_attempts:
                claimed = _copy(edit)
                claimed.claim(now, lease)
                self.store.edits[edit.id] = _copy(claimed)
                return claimed
        return None

    def exhausted(self, now: dt.datetime, *, max_attempts: int, limit: int = 100) -> Sequence[EditRequest]:
        found = [
            _copy(e)
            for e in sorted(self.store.edits.values(), key=lambda e: e.created_at)
            if e.status is EditStatus.PENDING
            and e.attempts >= max_attempts
            and (e.claimed_until is None or e.claimed_until <= now)
        ]
        return found[:limit]

    def count_by_status(self) -> dict[EditStatus, int]:
        counts: dict[EditStatus, int] = {}
        for edit in self.store.edits.values():
            counts[edit.status] = counts.get(edit.status, 0) + 1
        return counts


@attrs.define
class FakeEditUnitOfWork(FakeUnitOfWork):
    edits: FakeEditRepository = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.edits = FakeEditRepository(self.store)


@attrs.define
class FakeEditUnitOfWorkFactory:
    store: _Store = attrs.field(factory=_Store)

    def __call__(self) -> FakeEditUnitOfWork:
        return FakeEditUnitOfWork(store=self.store)


Reply = Draft | EditFailed | Callable[[DraftRequest], Draft]


@attrs.define
class FakeEditEngine:
    """Answers with the scripted ``replies`` in turn (a draft, a failure to raise, or a
    function of the request); with none left, a draft that appends a paragraph saying
    what was asked to ``index.html``."""

    replies: list[Reply] = attrs.field(factory=list)
    name: str = "fake"
    automatic: bool = True
    drafted: int = 0

    def draft(self, request: DraftRequest) -> Draft:
        self.drafted += 1
        if self.replies:
            reply = self.replies.pop(0)
            if isinstance(reply, EditFailed):
                raise reply
            return reply(request) if callable(reply) else reply
        page = request.files.get("index.html", "<html><body></body></html>")
        note = f"<p data-edit>{_escape(request.instructions)}</p>"
        changed = page.replace("</body>", note + "</body>") if "</body>" in page else page + note
        return Draft(summary=f"Added: {request.instructions[:60]}", files={"index.html": changed})


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@attrs.define
class FakePreviewLinks:
    """Unsigned tokens ``<edit id>.<issued at>`` expiring after seven days of ``clock``:
    what the signed adapter promises, minus the cryptography."""

    clock: Clock

    def token(self, edit_id: uuid.UUID) -> str:
        return f"{edit_id.hex}.{int(self.clock.now().timestamp())}"

    def edit_id(self, token: str) -> uuid.UUID | None:
        try:
            raw, issued = token.split(".")
            edit_id = uuid.UUID(hex=raw)
            at = dt.datetime.fromtimestamp(int(issued), dt.UTC)
        except ValueError:
            return None
        if self.clock.now() - at > PREVIEW_LIFETIME or at > self.clock.now():
            return None
        return edit_id
