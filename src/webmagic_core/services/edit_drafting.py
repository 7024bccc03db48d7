"""Drafting for ``EditService``: workers claim pending edits, ask the engine, and store
the draft (or fail the edit) only while they still hold the claim.

Drafting never runs inside a transaction: a worker claims a pending edit (one short
transaction, a lease), reads the live files, asks the engine (seconds, over the network),
then opens a second transaction that stores the draft only if it still holds the claim.
A worker that dies leaves the lease to expire; after ``max_attempts`` claims that never
finished, the edit fails instead of being drafted forever.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence

import attrs

from webmagic_core import events
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.edits.checks import draft_problems
from webmagic_core.edits.model import EditRequest, EditStatus
from webmagic_core.edits.ports import (
    Draft,
    DraftRequest,
    EditEngine,
    EditFailed,
    EditUnitOfWork,
    EditUnitOfWorkFactory,
    PreviewLinks,
)
from webmagic_core.errors import Conflict, NotFound, ValidationError
from webmagic_core.ports import Clock
from webmagic_core.services.edit_config import GAVE_UP, EditConfig, EditView, WorkOutcome
from webmagic_core.services.outbox import queue_email
from webmagic_core.services.sites import SiteService
from webmagic_core.site_files import SiteFiles
from webmagic_core.sites import Site

log = logging.getLogger(__name__)


@attrs.define
class EditDrafting:
    """The base of ``EditService``, with its ports and configuration: the workers' side and
    what the operator's drafts share with it (storing a draft, failing an edit, mailing the
    owner)."""

    uow: EditUnitOfWorkFactory
    clock: Clock
    sites: SiteService
    engine: EditEngine
    links: PreviewLinks
    config: EditConfig

    def work_once(self) -> WorkOutcome | None:
        """Draft the oldest claimable pending edit with the engine; None when there is
        none (or the engine is manual)."""
        if not self.engine.automatic:
            return None
        now = self.clock.now()
        self._fail_exhausted(now)
        with self.uow() as uow:
            edit = uow.edits.claim_next(now, self.config.lease, max_attempts=self.config.max_attempts)
            uow.commit()
        if edit is None:
            return None
        claim = edit.claim_id
        try:
            site = self._site(edit.site_id)
            base = site.current_version
            current = self.sites.text_files(site.id, base)
            request = DraftRequest(site.business_name, edit.instructions, current)
            draft = self.engine.draft(request)
            problems = draft_problems(request, draft)
            if problems:
                raise EditFailed(
                    GAVE_UP, f"{self.engine.name} returned an unacceptable draft: {'; '.join(problems)}"
                )
            view = self._store_draft(edit.id, claim, site, base, draft, by=self.engine.name)
        except EditFailed as failure:
            view = self._fail(edit.id, claim, reason=failure.reason, detail=failure.detail, admin=True)
        except ValidationError as error:  # the draft's files broke a file rule
            view = self._fail(
                edit.id, claim, reason=GAVE_UP, detail=f"{self.engine.name}: {error.detail}", admin=True
            )
        return WorkOutcome(edit.id, view.edit.status)

    def work(self, *, limit: int = 100) -> Sequence[WorkOutcome]:
        """``work_once`` until nothing is left (at most ``limit`` edits)."""
        done: list[WorkOutcome] = []
        while len(done) < limit:
            outcome = self.work_once()
            if outcome is None:
                break
            done.append(outcome)
        return done

    def _store_draft(
        self, edit_id: uuid.UUID, claim: uuid.UUID | None, site: Site, base: int, draft: Draft, *, by: str
    ) -> EditView:
        _, files = self.sites.version_files(site.id, base)
        bodies = dict(files.bodies)
        for path, text in draft.files.items():
            bodies[path] = text.encode("utf-8")
        prepared = self.sites.prepare(
            site.slug, SiteFiles(bodies)
        )  # file rules and rewriting, outside the lock
        now = self.clock.now()
        with self.uow() as uow:
            edit = uow.edits.get(edit_id, for_update=True)
            if edit is None:
                raise NotFound(f"there is no edit {edit_id}")
            if not edit.holds(claim):
                # Another worker or an operator finished it meanwhile: theirs stands.
                log.info("draft discarded: edit %s was finished by someone else", edit_id)
                return self._view(edit, site)
            edit.draft(base_version=base, summary=draft.summary, files=prepared.files, by=by, now=now)
            uow.edits.save(edit, prepared.bodies)
            self._mail_owner(
                uow,
                site,
                EmailTemplate.EDIT_READY,
                {
                    "preview_url": self.config.preview_url(self.links.token(edit.id)),
                    "review_url": self.config.manage_url(site.slug) + "#edits",
                    "instructions": edit.instructions,
                },
                now,
            )
            uow.commit()
        events.emit(
            "edit.drafted",
            f"edit {edit_id} of {site.slug} drafted by {by}",
            edit_id=edit_id,
            site_id=site.id,
            by=by,
        )
        return self._view(edit, site)

    def _fail(
        self, edit_id: uuid.UUID, claim: uuid.UUID | None, *, reason: str, detail: str, admin: bool
    ) -> EditView:
        now = self.clock.now()
        with self.uow() as uow:
            edit = uow.edits.get(edit_id, for_update=True)
            if edit is None:
                raise NotFound(f"there is no edit {edit_id}")
            site = uow.sites.get(edit.site_id)
            if site is None:
                raise NotFound(f"the site of edit {edit_id} is gone")
            if claim is not None and not edit.holds(claim):
                return self._view(edit, site)
            if claim is None and edit.status is not EditStatus.PENDING:
                raise Conflict(f"only a pending edit can be failed; this one is {edit.status.value}")
            edit.fail(reason=reason, detail=detail, now=now)
            uow.edits.save(edit)
            self._mail_owner(
                uow,
                site,
                EmailTemplate.EDIT_FAILED,
                {
                    "reason": edit.reason or reason,
                    "review_url": self.config.manage_url(site.slug) + "#edits",
                    "instructions": edit.instructions,
                },
                now,
            )
            if admin and self.config.admin_email:
                queue_email(
                    uow,
                    EmailTemplate.ANOMALY_ALERT,
                    self.config.admin_email,
                    {
                        "summary": f"An edit of {site.slug} failed",
                        "details": f"Edit {edit.id}: {edit.detail}\nInstructions: {edit.instructions}",
                        "site_slug": site.slug,
                        "reference": str(edit.id),
                    },
                    now,
                    site_id=site.id,
                )
            uow.commit()
        events.emit(
            "edit.failed",
            f"edit {edit_id} of {site.slug} failed: {edit.detail}",
            level=logging.WARNING,
            edit_id=edit_id,
            site_id=site.id,
        )
        return self._view(edit, site)

    def _fail_exhausted(self, now: dt.datetime) -> None:
        with self.uow() as uow:
            stuck = uow.edits.exhausted(now, max_attempts=self.config.max_attempts)
        for edit in stuck:
            try:
                self._fail(
                    edit.id,
                    edit.claim_id,
                    reason=GAVE_UP,
                    detail=f"no worker finished drafting it in {edit.attempts} attempts (each lease expired)",
                    admin=True,
                )
            except NotFound:
                continue

    def _site(self, site_id: uuid.UUID) -> Site:
        with self.uow() as uow:
            site = uow.sites.get(site_id)
        if site is None:
            raise NotFound(f"there is no site {site_id}")
        return site

    def _mail_owner(
        self,
        uow: EditUnitOfWork,
        site: Site,
        template: EmailTemplate,
        data: Mapping[str, object],
        now: dt.datetime,
    ) -> None:
        owner = uow.customers.get(site.owner_id) if site.owner_id else None
        if owner is None:
            return
        values = {"business_name": site.business_name, **data}
        if owner.full_name:
            values["full_name"] = owner.full_name
        queue_email(uow, template, owner.email, values, now, site_id=site.id)

    def preview_url(self, edit_id: uuid.UUID) -> str:
        """The link that shows a ready edit's draft (signed: it works without signing in)."""
        return self.config.preview_url(self.links.token(edit_id))

    def _view(self, edit: EditRequest, site: Site) -> EditView:
        preview = self.preview_url(edit.id) if edit.status is EditStatus.READY else None
        return EditView(edit=edit, slug=site.slug, business_name=site.business_name, preview_url=preview)
