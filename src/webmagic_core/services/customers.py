"""Customers for operators: find an account by email, see what it owns and what happened
to it, deactivate and reactivate it, resend its links (``webmagic customers``).

Deactivation ends every login of the account at once (its refresh sessions are revoked,
so the access tokens naming them are refused on the next request) and keeps its sites
as they are: deactivating a person never takes a paying business offline. It is recorded
with the operator's reason in the account's history and in the timelines of its sites.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence

import attrs

from webmagic_core.accounts.admin import (
    AccountEvent,
    AccountEventKind,
    AccountStatus,
    CustomerAdminUnitOfWork,
    CustomerAdminUnitOfWorkFactory,
    EmailSummary,
    LoginSummary,
)
from webmagic_core.accounts.customers import Customer
from webmagic_core.errors import Conflict, NotFound, ValidationError
from webmagic_core.payments.purchases import Purchase
from webmagic_core.payments.subscriptions import Subscription
from webmagic_core.ports import Clock
from webmagic_core.services.accounts import AccountService
from webmagic_core.services.timeline import TimelineEntry, TimelineKind
from webmagic_core.sites import Actor, Site

MAX_PAGE_SIZE = 500
MAX_REASON_LENGTH = 500
DEFAULT_ACTIVITY_RETENTION = dt.timedelta(days=90)


@attrs.frozen
class CustomerPage:
    customers: Sequence[Customer]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@attrs.frozen
class CustomerProfile:
    """Everything ``customers show`` tells about one account."""

    customer: Customer
    status: AccountStatus
    sites: Sequence[Site]
    subscriptions: Sequence[Subscription]
    purchases: Sequence[Purchase]
    emails: Sequence[EmailSummary]
    logins: Sequence[LoginSummary]
    history: Sequence[AccountEvent]
    # None once older than the retention (or never known).
    last_login_address: str | None


@attrs.frozen
class LinkSent:
    customer: Customer
    template: str


def _reason(value: str | None) -> str | None:
    if value is None:
        return None
    reason = " ".join(value.split())
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(
            f"the reason must be at most {MAX_REASON_LENGTH} characters long", field="reason"
        )
    return reason or None


@attrs.define
class CustomerService:
    uow: CustomerAdminUnitOfWorkFactory
    clock: Clock
    accounts: AccountService
    # How long the client address of the last login is kept.
    activity_retention: dt.timedelta = DEFAULT_ACTIVITY_RETENTION

    def list(
        self,
        *,
        search: str | None = None,
        status: AccountStatus | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> CustomerPage:
        """Newest first, one page (numbered from 1)."""
        if page < 1:
            raise ValidationError("the page number starts at 1", field="page")
        if not 1 <= per_page <= MAX_PAGE_SIZE:
            raise ValidationError(f"a page holds 1 to {MAX_PAGE_SIZE} customers", field="per_page")
        text = " ".join(search.split()).lower() if search is not None else None
        with self.uow() as uow:
            rows = uow.customer_admin.list(
                search=text or None, status=status, limit=per_page, offset=(page - 1) * per_page
            )
            total = uow.customer_admin.count(search=text or None, status=status)
        return CustomerPage(customers=rows, total=total, page=page, per_page=per_page)

    def show(self, email: str) -> CustomerProfile:
        now = self.clock.now()
        with self.uow() as uow:
            customer = self._find(uow, email)
            repo = uow.customer_admin
            return CustomerProfile(
                customer=customer,
                status=AccountStatus.of(customer),
                sites=uow.sites.list(owner_id=customer.id),
                subscriptions=repo.subscriptions(customer.id),
                purchases=repo.purchases(customer.id),
                emails=repo.emails(customer.email),
                logins=repo.live_logins(customer.id, now),
                history=repo.events(customer.id),
                last_login_address=self._visible_address(customer, now),
            )

    def deactivate(self, email: str, *, reason: str | None = None, actor: Actor = Actor.ADMIN) -> Customer:
        """Refuse every sign-in from now on and end every login at once; the sites keep
        their status. ``Conflict`` if the account is already deactivated."""
        why = _reason(reason)
        now = self.clock.now()
        with self.uow() as uow:
            customer = self._find(uow, email, for_update=True)
            if not customer.active:
                raise Conflict(f"the account {customer.email} is already deactivated")
            customer.deactivated_at = customer.updated_at = now
            uow.customers.save(customer)
            ended = uow.refresh_sessions.revoke_customer(customer.id, now)
            detail = f"account deactivated by an operator: {why or 'no reason given'}"
            if ended:
                detail += f" ({ended} sign-in token(s) revoked)"
            uow.customer_admin.add_event(
                AccountEvent.new(customer.id, AccountEventKind.DEACTIVATED, detail, actor, now)
            )
            uow.commit()
        return customer

    def reactivate(self, email: str, *, reason: str | None = None, actor: Actor = Actor.ADMIN) -> Customer:
        """Let the account sign in again (with its password; earlier logins stay ended).
        ``Conflict`` if it is not deactivated."""
        why = _reason(reason)
        now = self.clock.now()
        with self.uow() as uow:
            customer = self._find(uow, email, for_update=True)
            if customer.active:
                raise Conflict(f"the account {customer.email} is not deactivated")
            customer.deactivated_at = None
            customer.updated_at = now
            uow.customers.save(customer)
            detail = f"account reactivated by an operator: {why or 'no reason given'}"
            uow.customer_admin.add_event(
                AccountEvent.new(customer.id, AccountEventKind.REACTIVATED, detail, actor, now)
            )
            uow.commit()
        return customer

    def resend_link(self, email: str, *, actor: Actor = Actor.ADMIN) -> LinkSent:
        """Mail a fresh set-password link (a verification link to an unverified account
        that has a password) through the outbox; earlier links of that kind stop working."""
        now = self.clock.now()
        with self.uow() as uow:
            customer = self._find(uow, email, for_update=True)
            template = self.accounts.send_fresh_link(uow, customer, now)
            uow.customers.save(customer)
            kind = "verification" if template.value == "verify_email" else "set-password"
            uow.customer_admin.add_event(
                AccountEvent.new(
                    customer.id,
                    AccountEventKind.LINK_SENT,
                    f"{kind} link sent by an operator; earlier {kind} links no longer work",
                    actor,
                    now,
                )
            )
            uow.commit()
        return LinkSent(customer=customer, template=template.value)

    def forget_old_addresses(self) -> int:
        """Clear last-login addresses older than the retention; how many were cleared."""
        with self.uow() as uow:
            cleared = uow.customer_admin.forget_login_addresses(self.clock.now() - self.activity_retention)
            uow.commit()
        return cleared

    def timeline(self, site_id: uuid.UUID) -> Iterator[TimelineEntry]:
        """For a site's timeline: what happened to its owner's account since the purchase
        (deactivation, reactivation)."""
        with self.uow() as uow:
            site = uow.sites.get(site_id)
            if site is None or site.owner_id is None:
                return iter(())
            events = uow.customer_admin.events(site.owner_id)
            owner = uow.customers.get(site.owner_id)
        since = site.purchased_at
        email = owner.email if owner is not None else str(site.owner_id)
        return (
            TimelineEntry(e.at, TimelineKind.ACCOUNT, f"owner {email}: {e.detail}", str(e.id))
            for e in events
            if e.kind in (AccountEventKind.DEACTIVATED, AccountEventKind.REACTIVATED)
            and (since is None or e.at >= since)
        )

    def _visible_address(self, customer: Customer, now: dt.datetime) -> str | None:
        if customer.last_login_at is None or customer.last_login_at < now - self.activity_retention:
            return None
        return customer.last_login_address

    def _find(self, uow: CustomerAdminUnitOfWork, email: str, *, for_update: bool = False) -> Customer:
        address = self.accounts.normalize_email(email)
        customer = uow.customers.get_by_email(address, for_update=for_update)
        if customer is None:
            raise NotFound(f"no account has the email address {address}")
        return customer
