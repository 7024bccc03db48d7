"""``SitePageQuery`` on SQLAlchemy Core: the portal's site page in one connection and one
read transaction (one snapshot on SQLite and PostgreSQL alike), one statement per section,
rows turned straight into the port's named tuples.

The statements are built once with bind parameters and compiled once for the engine's
dialect (``Precompiled``): SQLAlchemy's per-execution machinery cost the page more than
the database's answers did."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select

from webmagic_adapters.sqlalchemy import tables as t
from webmagic_adapters.sqlalchemy.accounts_repositories import _customer
from webmagic_adapters.sqlalchemy.database import Database
from webmagic_adapters.sqlalchemy.domains_repository import _domain
from webmagic_adapters.sqlalchemy.errors import translating_errors
from webmagic_adapters.sqlalchemy.precompiled import Precompiled
from webmagic_adapters.sqlalchemy.subscriptions_repositories import _SUBS_OF_SITE, _subscription
from webmagic_core.edits.model import EditStatus
from webmagic_core.lifecycle import SiteStatus
from webmagic_core.money import Money
from webmagic_core.ports import (
    EDITS_SHOWN,
    EditRow,
    EventRow,
    PaymentRow,
    SitePageRows,
    SiteRow,
    VersionRow,
)
from webmagic_core.sites import VersionCause

_s, _ev, _v, _vf = t.sites, t.site_events, t.site_versions, t.site_version_files
_subs, _pay, _r, _df = t.subscriptions, t.subscription_payments, t.edit_requests, t.edit_draft_files

_CUSTOMER = select(t.customer_users).where(t.customer_users.c.id == bindparam("customer_id"))
# How many tokens the login has, and how many are revoked (as ``login_live``).
_LOGIN = select(func.count(), func.count(t.refresh_sessions.c.revoked_at)).where(
    t.refresh_sessions.c.family_id == bindparam("login_id")
)
_SITE = select(
    _s.c.id, _s.c.slug, _s.c.business_name, _s.c.status, _s.c.purchased_at, _s.c.current_version
).where(
    _s.c.slug == bindparam("slug"),
    _s.c.owner_id == bindparam("customer_id"),
    _s.c.status != SiteStatus.ARCHIVED.value,
)
_EVENTS = (
    select(_ev.c.occurred_at, _ev.c.from_status, _ev.c.to_status)
    .where(_ev.c.site_id == bindparam("site_id"))
    .order_by(_ev.c.occurred_at, _ev.c.seq)
)
_VERSIONS = (
    select(_v.c.number, _v.c.created_at, _v.c.cause, _v.c.note, _v.c.restored_from)
    .where(_v.c.site_id == bindparam("site_id"))
    .order_by(_v.c.number.desc())
)
_PAYMENTS = (
    select(_pay.c.paid_at, _pay.c.amount_in_cents, _pay.c.currency, _pay.c.period_end)
    .join(_subs, _subs.c.id == _pay.c.subscription_id)
    .where(_subs.c.site_id == bindparam("site_id"))
    .order_by(_pay.c.paid_at.desc(), _pay.c.payment_id.desc())
)
_EDITS = (
    select(
        _r.c.id,
        _r.c.status,
        _r.c.instructions,
        _r.c.created_at,
        _r.c.summary,
        _r.c.version,
        _r.c.reason,
        _r.c.base_version,
    )
    .where(_r.c.site_id == bindparam("site_id"))
    .order_by(_r.c.created_at.desc(), _r.c.seq.desc())
    .limit(EDITS_SHOWN)
)
# The files of the site's ready drafts, and of the versions they were drafted from (a site
# has few ready edits at a time; the page keeps those it lists).
_READY = (_r.c.site_id == bindparam("site_id")) & (_r.c.status == EditStatus.READY.value)
_DRAFT_FILES = (
    select(_df.c.edit_id, _df.c.path, _df.c.digest).join(_r, _r.c.id == _df.c.edit_id).where(_READY)
)
_BASE_FILES = select(_vf.c.number, _vf.c.path, _vf.c.digest).where(
    _vf.c.site_id == bindparam("site_id"), _vf.c.number.in_(select(_r.c.base_version).where(_READY))
)
_DOMAIN = select(t.custom_domains).where(t.custom_domains.c.site_id == bindparam("site_id"))

_STATUS = {s.value: s for s in SiteStatus}
_CAUSE = {c.value: c for c in VersionCause}
_EDIT_STATUS = {s.value: s for s in EditStatus}


class SqlSitePageQuery:
    """Runs outside any unit of work, on a connection of its own, and never writes."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine
        dialect = self._engine.dialect

        def compiled(statement: Select[*tuple[Any, ...]]) -> Precompiled:
            return Precompiled(statement, dialect)

        self._customer, self._login, self._site = compiled(_CUSTOMER), compiled(_LOGIN), compiled(_SITE)
        self._events, self._versions = compiled(_EVENTS), compiled(_VERSIONS)
        self._payments, self._edits = compiled(_PAYMENTS), compiled(_EDITS)
        self._subscriptions, self._domain = compiled(_SUBS_OF_SITE), compiled(_DOMAIN)
        self._draft_files, self._base_files = compiled(_DRAFT_FILES), compiled(_BASE_FILES)

    def read(self, customer_id: uuid.UUID, login_id: uuid.UUID | None, slug: str) -> SitePageRows:
        with translating_errors(), self._engine.connect() as connection:
            connection.begin()  # one snapshot for every statement (and SQLite's BEGIN hook)
            try:
                return self._read(connection, customer_id, login_id, slug)
            finally:
                connection.rollback()

    def _read(
        self, c: Connection, customer_id: uuid.UUID, login_id: uuid.UUID | None, slug: str
    ) -> SitePageRows:
        row = self._customer.first(c, {"customer_id": customer_id})
        customer = _customer(row) if row is not None else None
        live = False
        if customer is not None and login_id is not None:
            counted = self._login.first(c, {"login_id": login_id})
            live = counted is not None and bool(counted[0]) and not counted[1]
        found = self._site.first(c, {"slug": slug, "customer_id": customer_id})
        if found is None:
            return SitePageRows(customer=customer, login_live=live, site=None)
        site = SiteRow(
            found.id,
            found.slug,
            found.business_name,
            _STATUS[found.status],
            found.purchased_at,
            found.current_version,
        )
        key = {"site_id": site.id}
        status = _STATUS
        events = [
            EventRow(at, status[before] if before is not None else None, status[after])
            for at, before, after in self._events.all(c, key)
        ]
        versions = [
            VersionRow(number, at, _CAUSE[cause], note, restored_from)
            for number, at, cause, note, restored_from in self._versions.all(c, key)
        ]
        payments = [
            PaymentRow(paid_at, Money(cents, currency), period_end)
            for paid_at, cents, currency, period_end in self._payments.all(c, key)
        ]
        edits: list[EditRow] = []
        drafted: dict[uuid.UUID, int] = {}  # ready edit → its base version
        for edit_id, state, instructions, created_at, summary, version, reason, base in self._edits.all(
            c, key
        ):
            edits.append(
                EditRow(edit_id, _EDIT_STATUS[state], instructions, created_at, summary, version, reason)
            )
            if state == EditStatus.READY.value and base is not None:
                drafted[edit_id] = base
        domain_row = self._domain.first(c, key)
        return SitePageRows(
            customer=customer,
            login_live=live,
            site=site,
            events=events,
            versions=versions,
            subscriptions=[_subscription(s) for s in self._subscriptions.all(c, key)],
            payments=payments,
            edits=edits,
            changed=self._changed(c, key, drafted) if drafted else {},
            domain=_domain(domain_row) if domain_row is not None else None,
        )

    def _changed(
        self, c: Connection, key: dict[str, Any], drafted: dict[uuid.UUID, int]
    ) -> dict[uuid.UUID, list[str]]:
        """The paths each drafted edit changes against its base version (as
        ``EditService.listing``): a draft with no files changes nothing listed."""
        drafts: dict[uuid.UUID, dict[str, str]] = {}
        for edit_id, path, digest in self._draft_files.all(c, key):
            if edit_id in drafted:
                drafts.setdefault(edit_id, {})[path] = digest
        bases: dict[int, dict[str, str]] = {}
        if drafts:
            for number, path, digest in self._base_files.all(c, key):
                bases.setdefault(number, {})[path] = digest
        found: dict[uuid.UUID, list[str]] = {}
        for edit_id, after in drafts.items():
            before = bases.get(drafted[edit_id], {})
            found[edit_id] = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
        return found
