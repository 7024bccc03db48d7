"""Site entities: a site, its immutable versions, and the events of its lifecycle."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence

import attrs

from webmagic_core import events, lifecycle
from webmagic_core.errors import ValidationError
from webmagic_core.lifecycle import SiteStatus, Trigger
from webmagic_core.site_files import FileLimits, SiteFiles, VersionFile

MAX_HTML_BYTES = 5 * 1024 * 1024
MAX_ASSET_BYTES = 5 * 1024 * 1024


class Actor(enum.StrEnum):
    """Who caused a change."""

    ADMIN = "admin"
    SYSTEM = "system"
    WEBHOOK = "webhook"
    CUSTOMER = "customer"


class VersionCause(enum.StrEnum):
    """Why a version exists."""

    IMPORT = "import"  # the site's first files (created from the pipeline, a folder, the CLI)
    PUBLISH = "publish"  # an operator published new files
    EDIT = "edit"  # an owner approved a drafted edit
    RESTORE = "restore"  # an owner (or operator) put an earlier version back


@attrs.frozen
class SiteEvent:
    """One recorded transition (``from_status`` is None for the creation of a site)."""

    id: uuid.UUID
    site_id: uuid.UUID
    from_status: SiteStatus | None
    to_status: SiteStatus
    cause: str
    actor: Actor
    reference: str | None
    occurred_at: dt.datetime


@attrs.frozen
class SiteContent:
    """The three-file shortcut of a version (a page, a stylesheet, a script), validated;
    ``files()`` turns it into the version's files (``index.html``, ``styles.css``,
    ``app.js``; an empty stylesheet or script is left out)."""

    html: str
    css: str = ""
    js: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.html.strip():
            raise ValidationError("the HTML is empty", field="html")
        for name, text in (("html", self.html), ("css", self.css), ("js", self.js)):
            if "\x00" in text:
                # Not text; PostgreSQL cannot store it either.
                raise ValidationError(f"the {name.upper()} contains a NUL character", field=name)
        for name, text, limit in (
            ("html", self.html, MAX_HTML_BYTES),
            ("css", self.css, MAX_ASSET_BYTES),
            ("js", self.js, MAX_ASSET_BYTES),
        ):
            size = len(text.encode("utf-8"))
            if size > limit:
                raise ValidationError(
                    f"the {name.upper()} is {size:,} bytes; the limit is {limit:,} bytes", field=name
                )

    @classmethod
    def from_bytes(cls, html: bytes, css: bytes = b"", js: bytes = b"") -> SiteContent:
        """Decode uploaded files, refusing anything that is not UTF-8."""
        texts = []
        for name, data in (("html", html), ("css", css), ("js", js)):
            limit = MAX_HTML_BYTES if name == "html" else MAX_ASSET_BYTES
            if len(data) > limit:
                raise ValidationError(
                    f"the {name.upper()} is {len(data):,} bytes; the limit is {limit:,} bytes", field=name
                )
            try:
                texts.append(data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ValidationError(
                    f"the {name.upper()} is not valid UTF-8 (byte {exc.start})", field=name
                ) from None
        return cls(html=texts[0].removeprefix("\ufeff"), css=texts[1], js=texts[2])

    def files(self, limits: FileLimits | None = None) -> SiteFiles:
        bodies = {"index.html": self.html.encode()}
        if self.css:
            bodies["styles.css"] = self.css.encode()
        if self.js:
            bodies["app.js"] = self.js.encode()
        return SiteFiles.build(bodies, limits or FileLimits())


@attrs.frozen
class SiteVersion:
    """An immutable snapshot of a site's files (sorted by path; their bodies are stored
    by digest); ``number`` counts from 1."""

    site_id: uuid.UUID
    number: int
    files: tuple[VersionFile, ...]
    cause: VersionCause
    created_by: Actor
    created_at: dt.datetime
    # An operator's own words about it (the CLI's reason), else "".
    note: str = ""
    edit_id: uuid.UUID | None = None  # cause EDIT: the edit request it came from
    restored_from: int | None = None  # cause RESTORE: the version whose files it holds

    def file(self, path: str) -> VersionFile | None:
        for file in self.files:
            if file.path == path:
                return file
        return None

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)


@attrs.frozen
class SiteVersionSummary:
    """A version without its files: what listing a site's history needs."""

    number: int
    created_at: dt.datetime
    cause: VersionCause
    created_by: Actor
    note: str = ""
    edit_id: uuid.UUID | None = None
    restored_from: int | None = None


@attrs.define
class Site:
    id: uuid.UUID
    slug: str
    business_name: str
    status: SiteStatus
    current_version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    # The customer who bought the site (a customer may own several), and when.
    owner_id: uuid.UUID | None = None
    purchased_at: dt.datetime | None = None
    # New events not yet persisted; the unit of work's repository saves them.
    pending_events: list[SiteEvent] = attrs.field(factory=list, eq=False, repr=False)

    @classmethod
    def new_preview(
        cls, *, slug: str, business_name: str, now: dt.datetime, actor: Actor, cause: str
    ) -> Site:
        site = cls(
            id=uuid.uuid4(),
            slug=slug,
            business_name=business_name,
            status=SiteStatus.PREVIEW,
            current_version=1,
            created_at=now,
            updated_at=now,
        )
        site._record(None, SiteStatus.PREVIEW, cause=cause, actor=actor, reference=None, at=now)
        return site

    def apply(
        self, trigger: Trigger, *, cause: str, actor: Actor, at: dt.datetime, reference: str | None = None
    ) -> SiteEvent:
        """Move along the lifecycle table; raises ``InvalidTransition`` if it forbids the move."""
        target = lifecycle.next_status(self.status, trigger)
        event = self._record(self.status, target, cause=cause, actor=actor, reference=reference, at=at)
        self.status = target
        self.updated_at = at
        return event

    def sell(
        self, owner_id: uuid.UUID, *, cause: str, actor: Actor, at: dt.datetime, reference: str | None = None
    ) -> SiteEvent:
        """preview -> owned, recording who bought it; raises like ``apply`` if not a preview."""
        event = self.apply(Trigger.PURCHASE_PAID, cause=cause, actor=actor, at=at, reference=reference)
        self.owner_id, self.purchased_at = owner_id, at
        return event

    def go_live(
        self, version: int, *, cause: str, actor: Actor, at: dt.datetime, reference: str | None = None
    ) -> SiteEvent:
        """Make ``version`` the one served, recording it in the site's history (an event
        whose status does not change)."""
        self.current_version = version
        self.updated_at = at
        return self._record(self.status, self.status, cause=cause, actor=actor, reference=reference, at=at)

    def can(self, trigger: Trigger) -> bool:
        return lifecycle.can_apply(self.status, trigger)

    @property
    def policy(self) -> lifecycle.StatusPolicy:
        return lifecycle.policy(self.status)

    def _record(
        self,
        from_status: SiteStatus | None,
        to_status: SiteStatus,
        *,
        cause: str,
        actor: Actor,
        reference: str | None,
        at: dt.datetime,
    ) -> SiteEvent:
        event = SiteEvent(
            id=uuid.uuid4(),
            site_id=self.id,
            from_status=from_status,
            to_status=to_status,
            cause=cause,
            actor=actor,
            reference=reference,
            occurred_at=at,
        )
        self.pending_events.append(event)
        return event


def validate_business_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError("the business name is empty", field="business_name")
    if any(ord(c) < 32 or ord(c) == 127 for c in cleaned):
        raise ValidationError("the business name contains control characters", field="business_name")
    if len(cleaned) > 200:
        raise ValidationError("the business name is longer than 200 characters", field="business_name")
    return cleaned


def announce_site_events(site_events: Sequence[SiteEvent]) -> None:
    """Each status change as a business event (``site.created`` or ``site.state_changed``);
    a new version going live (no status change) is the edit's or restore's own event."""
    for event in site_events:
        if event.from_status is event.to_status:
            continue
        created = event.from_status is None
        events.emit(
            "site.created" if created else "site.state_changed",
            f"site {event.site_id} created as {event.to_status.value}"
            if created
            else f"site {event.site_id}: {event.from_status.value if event.from_status else ''} -> "
            f"{event.to_status.value} ({event.cause})",
            site_id=event.site_id,
            from_status=event.from_status.value if event.from_status else None,
            to_status=event.to_status.value,
            cause=event.cause,
            actor=event.actor.value,
            reference=event.reference,
        )
