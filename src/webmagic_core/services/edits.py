"""Edits: owners ask, an engine or an operator drafts, owners preview and approve.

Drafting (the workers, ``edit_drafting``) never runs inside a transaction; see there.

Approval is one transaction: the site row is locked, the draft must have been made from
the version that is live now (else ``Conflict``: newer work is never overwritten), and
the new version, the site's current version and history, the edit's status and the
owner's mail are written together.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import attrs

from webmagic_core import events
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.edits.checks import draft_problems
from webmagic_core.edits.model import EditRequest, EditStatus, validate_instructions
from webmagic_core.edits.ports import (
    Draft,
    DraftRequest,
    EditUnitOfWork,
)
from webmagic_core.errors import Conflict, NotFound, Throttled, ValidationError
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.services.edit_config import (
    EDITABLE,
    GAVE_UP,
    OPERATOR,
    DraftPreview,
    EditConfig,
    EditListing,
    EditView,
    WorkOutcome,
    month_start,
    next_month_start,
)
from webmagic_core.services.edit_drafting import EditDrafting
from webmagic_core.services.publishing import request_publish
from webmagic_core.services.sites import owned
from webmagic_core.site_diff import FileChange, diff_files
from webmagic_core.sites import Actor, Site, SiteVersion, VersionCause

__all__ = [
    "EDITABLE",
    "GAVE_UP",
    "OPERATOR",
    "DraftPreview",
    "EditConfig",
    "EditListing",
    "EditService",
    "EditView",
    "WorkOutcome",
    "month_start",
    "next_month_start",
]


@attrs.define
class EditService(EditDrafting):
    """The edit use cases; the fields and the workers' side come from ``EditDrafting``."""

    # The owner's side (API and portal) ---------------------------------------------

    def request(self, customer_id: uuid.UUID, slug: str, instructions: str) -> EditView:
        now = self.clock.now()
        instructions = validate_instructions(instructions)  # before any lock is taken
        with self.uow() as uow:
            # The lock serialises requests for one site, so the quota cannot be overrun.
            site = owned(uow.sites.get_by_slug(slug, for_update=True), customer_id, slug)
            _require_editable(site, "ask for changes to")
            used = uow.edits.count_since(site.id, month_start(now))
            if used >= self.config.per_month:
                wait = int((next_month_start(now) - now).total_seconds())
                raise Throttled(
                    f"this site has had its {self.config.per_month} changes for this month; "
                    f"more can be asked for from {next_month_start(now):%B 1}",
                    retry_after=wait,
                )
            edit = EditRequest.new(
                site_id=site.id, customer_id=customer_id, instructions=instructions, now=now
            )
            uow.edits.add(edit)
            uow.commit()
        events.emit(
            "edit.requested", f"edit {edit.id} of {site.slug} requested", edit_id=edit.id, site_id=site.id
        )
        return self._view(edit, site)

    def of_site(self, customer_id: uuid.UUID, slug: str) -> Sequence[EditView]:
        with self.uow() as uow:
            site = owned(uow.sites.get_by_slug(slug), customer_id, slug)
            return [self._view(edit, site) for edit in uow.edits.for_site(site.id)]

    def listing(self, customer_id: uuid.UUID, slug: str) -> EditListing:
        """What the portal lists: ``of_site``, and ``changed_paths`` of its ready requests,
        read in one unit of work."""
        with self.uow() as uow:
            site = owned(uow.sites.get_by_slug(slug), customer_id, slug)
            edits = uow.edits.for_site(site.id)
            ready = [e for e in edits if e.status is EditStatus.READY]
            return EditListing([self._view(edit, site) for edit in edits], _changed_paths(uow, ready))

    def get(self, customer_id: uuid.UUID, slug: str, edit_id: uuid.UUID) -> EditView:
        with self.uow() as uow:
            site = owned(uow.sites.get_by_slug(slug), customer_id, slug)
            return self._view(_edit_of(uow, site, edit_id), site)

    def approve(self, customer_id: uuid.UUID, slug: str, edit_id: uuid.UUID) -> EditView:
        now = self.clock.now()
        with self.uow() as uow:
            site = owned(uow.sites.get_by_slug(slug, for_update=True), customer_id, slug)
            edit = _edit_of(uow, site, edit_id, for_update=True)
            _require_editable(site, "approve changes to")
            number = site.current_version + 1
            edit.apply(live_version=site.current_version, new_version=number, now=now)
            uow.sites.add_version(
                SiteVersion(
                    site_id=site.id,
                    number=number,
                    files=edit.draft_files,
                    cause=VersionCause.EDIT,
                    created_by=Actor.CUSTOMER,
                    created_at=now,
                    note=edit.summary or "",
                    edit_id=edit.id,
                ),
                {},  # the draft's bodies were stored with the draft
            )
            site.go_live(
                number,
                cause=f"edit applied: version {number}",
                actor=Actor.CUSTOMER,
                at=now,
                reference=str(edit.id),
            )
            uow.sites.save(site)
            request_publish(uow, site.id, now)
            uow.edits.save(edit)
            self._mail_owner(
                uow,
                site,
                EmailTemplate.EDIT_APPLIED,
                {
                    "site_url": self.config.site_url(site.slug),
                    "version": str(number),
                    "review_url": self.config.manage_url(site.slug),
                    "summary": edit.summary or "",
                },
                now,
            )
            uow.commit()
        events.emit(
            "edit.applied",
            f"edit {edit.id} of {site.slug} applied as version {number}",
            edit_id=edit.id,
            site_id=site.id,
            version=number,
        )
        return self._view(edit, site)

    def reject(self, customer_id: uuid.UUID, slug: str, edit_id: uuid.UUID) -> EditView:
        now = self.clock.now()
        with self.uow() as uow:
            site = owned(uow.sites.get_by_slug(slug), customer_id, slug)
            edit = _edit_of(uow, site, edit_id, for_update=True)
            edit.reject(now)
            uow.edits.save(edit)
            uow.commit()
        events.emit(
            "edit.rejected", f"edit {edit.id} of {site.slug} rejected", edit_id=edit.id, site_id=site.id
        )
        return self._view(edit, site)

    def restore(self, customer_id: uuid.UUID, slug: str, number: int) -> SiteVersion:
        """A new version holding version ``number``'s files (history is never rewritten)."""
        now = self.clock.now()
        with self.uow() as uow:
            site = owned(uow.sites.get_by_slug(slug, for_update=True), customer_id, slug)
            old = uow.sites.get_version(site.id, number)
            if old is None:
                raise NotFound(f"this site has no version {number}")
            _require_editable(site, "restore versions of")
            version = SiteVersion(
                site_id=site.id,
                number=site.current_version + 1,
                files=old.files,
                cause=VersionCause.RESTORE,
                created_by=Actor.CUSTOMER,
                created_at=now,
                restored_from=number,
            )
            uow.sites.add_version(version, {})
            site.go_live(
                version.number,
                cause=f"version {number} restored as version {version.number}",
                actor=Actor.CUSTOMER,
                at=now,
            )
            uow.sites.save(site)
            request_publish(uow, site.id, now)
            uow.commit()
        events.emit(
            "version.restored",
            f"version {number} of {slug} restored as version {version.number}",
            site_id=version.site_id,
            restored_from=number,
            version=version.number,
        )
        return version

    def diff(self, edit: EditRequest) -> tuple[FileChange, ...] | None:
        """What the draft changes against the version it was made from (None: no draft)."""
        if edit.base_version is None or edit.status not in (EditStatus.READY, EditStatus.APPLIED):
            return None
        with self.uow() as uow:
            base = uow.sites.get_version(edit.site_id, edit.base_version)

            def body(digest: str) -> bytes:
                data = uow.sites.get_body(digest)
                if data is None:
                    raise NotFound(f"no stored file has the digest {digest}")
                return data

            return diff_files(base.files if base is not None else (), edit.draft_files, body)

    def changed_paths(self, edits: Sequence[EditRequest]) -> dict[uuid.UUID, list[str]]:
        """For each drafted edit, the paths its draft adds, removes or changes (by digest:
        no body is read), in one unit of work."""
        if not any(_drafted(e) for e in edits):
            return {}
        with self.uow() as uow:
            return _changed_paths(uow, edits)

    def preview(self, token: str) -> DraftPreview:
        """The draft a preview link names; ``NotFound`` for a bad or expired token, or an
        edit that has no draft to show (any more)."""
        edit_id = self.links.edit_id(token)
        if edit_id is None:
            raise NotFound("this preview link is not valid or has expired")
        with self.uow() as uow:
            edit = uow.edits.get(edit_id)
            site = uow.sites.get(edit.site_id) if edit is not None else None
        if (
            edit is None
            or site is None
            or edit.status is not EditStatus.READY
            or site.status is SiteStatus.ARCHIVED
        ):
            raise NotFound("this preview link is not valid or has expired")
        return DraftPreview(
            edit=edit, slug=site.slug, business_name=site.business_name, files=edit.draft_files
        )

    # Operators (the CLI) -------------------------------------------------------------

    def list_all(self, *, status: EditStatus | None = None, limit: int = 100) -> Sequence[EditView]:
        with self.uow() as uow:
            edits = uow.edits.list(status=status, limit=limit)
            sites = {e.site_id: uow.sites.get(e.site_id) for e in edits}
        return [self._view(e, site) for e in edits if (site := sites[e.site_id]) is not None]

    def show(self, edit_id: uuid.UUID) -> EditView:
        with self.uow() as uow:
            edit = uow.edits.get(edit_id)
            site = uow.sites.get(edit.site_id) if edit is not None else None
        if edit is None or site is None:
            raise NotFound(f"there is no edit {edit_id}")
        return self._view(edit, site)

    def current_files(self, edit_id: uuid.UUID) -> Mapping[str, str]:
        """The text files an edit starts from: the site's live version."""
        view = self.show(edit_id)
        site = self._site(view.edit.site_id)
        return self.sites.text_files(site.id, site.current_version)

    def operator_draft(self, edit_id: uuid.UUID, files: Mapping[str, str], summary: str) -> EditView:
        """An operator's draft (the manual engine): checked like any engine's."""
        edit = self.show(edit_id).edit
        if edit.status is not EditStatus.PENDING:
            raise Conflict(f"only a pending edit can be drafted; this one is {edit.status.value}")
        site = self._site(edit.site_id)
        base = site.current_version
        current = self.sites.text_files(site.id, base)
        draft = Draft(summary=summary, files=dict(files))
        problems = draft_problems(DraftRequest(site.business_name, edit.instructions, current), draft)
        if problems:
            raise ValidationError("the draft is not acceptable: " + "; ".join(problems))
        return self._store_draft(edit_id, None, site, base, draft, by=OPERATOR)

    def operator_fail(self, edit_id: uuid.UUID, reason: str) -> EditView:
        """Give up on a pending edit; ``reason`` is mailed to the owner as written."""
        return self._fail(
            edit_id, None, reason=reason, detail=f"failed by an operator: {reason}", admin=False
        )

    def counts(self) -> dict[EditStatus, int]:
        with self.uow() as uow:
            return uow.edits.count_by_status()


def _drafted(edit: EditRequest) -> bool:
    return edit.base_version is not None and bool(edit.draft_files)


def _changed_paths(uow: EditUnitOfWork, edits: Sequence[EditRequest]) -> dict[uuid.UUID, list[str]]:
    bases: dict[tuple[uuid.UUID, int], dict[str, str]] = {}
    found: dict[uuid.UUID, list[str]] = {}
    for edit in edits:
        if not _drafted(edit):
            continue
        key = (edit.site_id, edit.base_version or 0)
        if key not in bases:
            base = uow.sites.get_version(*key)
            bases[key] = {f.path: f.digest for f in base.files} if base is not None else {}
        before = bases[key]
        after = {f.path: f.digest for f in edit.draft_files}
        found[edit.id] = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    return found


def _require_editable(site: Site, action: str) -> None:
    if site.status not in EDITABLE:
        raise Conflict(
            f"you cannot {action} a {site.status.value} site"
            + (
                ": start the monthly subscription to bring it back first"
                if site.status is SiteStatus.SUSPENDED
                else ""
            )
        )


def _edit_of(uow: EditUnitOfWork, site: Site, edit_id: uuid.UUID, *, for_update: bool = False) -> EditRequest:
    edit = uow.edits.get(edit_id, for_update=for_update)
    if edit is None or edit.site_id != site.id:
        raise NotFound(f"this site has no edit {edit_id}")
    return edit
