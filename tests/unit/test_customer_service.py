"""Customers for operators against the fakes: deactivation refuses sign-in (403 for the
right password only) and ends every login at once while the sites keep their status;
reactivation; the list and the profile; resent links void the earlier ones; login activity
and its retention."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

from webmagic_core.accounts.admin import AccountEventKind, AccountStatus
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.errors import InvalidToken
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.errors import Conflict, NotFound, PermissionDenied, Unauthenticated, ValidationError
from webmagic_core.money import Money
from webmagic_core.outbox import OutboxStatus
from webmagic_core.payments.purchases import Purchase
from webmagic_core.services.accounts import ACCOUNT_DISABLED, BAD_CREDENTIALS, AccountLinks, AccountService
from webmagic_core.services.customers import DEFAULT_ACTIVITY_RETENTION, CustomerService
from webmagic_core.services.timeline import TimelineKind, TimelineService
from webmagic_core.sites import Actor, Site, SiteStatus
from webmagic_core.testing import FakeClock, FakeRateLimiter
from webmagic_core.testing.accounts import FakePasswordHasher, FakeTokenSigner
from webmagic_core.testing.customers import FakeCustomerAdminUnitOfWorkFactory

EMAIL = "rosa@example.com"
PASSWORD = "correct horse battery"
CLIENT = "203.0.113.7"


@attrs.define
class World:
    clock: FakeClock
    uow: FakeCustomerAdminUnitOfWorkFactory
    accounts: AccountService
    customers: CustomerService

    def customer(self, email: str = EMAIL) -> Customer:
        [customer] = [c for c in self.uow.store.customers.values() if c.email == email]
        return customer

    def token(self, template: EmailTemplate, key: str, to: str = EMAIL) -> str:
        mails = [
            m for m in self.uow.store.outbox.values() if m.message.template is template and m.message.to == to
        ]
        data = mails[-1].data
        assert data is not None
        [token] = parse_qs(urlsplit(str(data[key])).query)["token"]
        return token

    def verified(self, email: str = EMAIL, password: str = PASSWORD, name: str | None = None) -> Customer:
        self.accounts.register(email, password, name)
        self.accounts.verify_email(self.token(EmailTemplate.VERIFY_EMAIL, "verify_url", email))
        self.clock.advance(dt.timedelta(seconds=1))
        return self.customer(email)

    def owned_site(self, owner: Customer, slug: str = "sunrise-bakery") -> Site:
        now = self.clock.now()
        site = Site.new_preview(slug=slug, business_name="Sunrise", now=now, actor=Actor.ADMIN, cause="test")
        site.sell(owner.id, cause="bought", actor=Actor.WEBHOOK, at=now)
        with self.uow() as uow:
            uow.sites.add(site)
            uow.commit()
        self.clock.advance(dt.timedelta(seconds=1))
        return site


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    uow = FakeCustomerAdminUnitOfWorkFactory()
    accounts = AccountService(
        uow=uow,
        clock=clock,
        hasher=FakePasswordHasher(),
        signer=FakeTokenSigner(clock=clock),
        policy=PasswordPolicy(frozenset()),
        rate_limiter=FakeRateLimiter(clock),
        links=AccountLinks("https://app.example.com"),
    )
    return World(clock, uow, accounts, CustomerService(uow=uow, clock=clock, accounts=accounts))


# --- deactivate and reactivate -------------------------------------------------------------


def test_a_deactivated_account_is_refused_with_the_right_password_and_told_401_with_a_wrong_one(
    world: World,
) -> None:
    world.verified()
    world.customers.deactivate(EMAIL, reason="chargeback")
    with pytest.raises(PermissionDenied) as refused:
        world.accounts.login(EMAIL, PASSWORD, CLIENT)
    assert refused.value.detail == ACCOUNT_DISABLED
    assert "disabled" in ACCOUNT_DISABLED
    with pytest.raises(Unauthenticated) as wrong:
        world.accounts.login(EMAIL, "a wrong password", CLIENT)
    assert wrong.value.detail == BAD_CREDENTIALS


def test_deactivation_ends_every_login_and_access_token_at_once(world: World) -> None:
    customer = world.verified()
    first = world.accounts.login(EMAIL, PASSWORD, CLIENT)
    second = world.accounts.login(EMAIL, PASSWORD, "198.51.100.2")
    assert world.accounts.authenticate(customer.id, customer.token_version, first.login_id)
    world.customers.deactivate(EMAIL, reason="chargeback")
    for login in (first, second):
        with pytest.raises(Unauthenticated):
            world.accounts.authenticate(customer.id, customer.token_version, login.login_id)
        with pytest.raises(Unauthenticated):
            world.accounts.refresh(login.refresh_token)
    assert all(s.revoked_at is not None for s in world.uow.store.refresh_sessions.values())


def test_authenticate_refuses_a_deactivated_account_even_with_a_live_login(world: World) -> None:
    """Belt and braces: the account's flag alone refuses its tokens."""
    customer = world.verified()
    login = world.accounts.login(EMAIL, PASSWORD, CLIENT)
    world.uow.store.customers[customer.id].deactivated_at = world.clock.now()
    with pytest.raises(Unauthenticated):
        world.accounts.authenticate(customer.id, customer.token_version, login.login_id)
    with pytest.raises(Unauthenticated):
        world.accounts.refresh(login.refresh_token)


def test_deactivation_keeps_the_sites_and_is_recorded_in_the_history_and_the_site_timelines(
    world: World,
) -> None:
    owner = world.verified()
    site = world.owned_site(owner)
    world.customers.deactivate(EMAIL, reason="card reported stolen")
    assert world.uow.store.sites[site.id].status is SiteStatus.OWNED
    [event] = world.customers.show(EMAIL).history
    assert event.kind is AccountEventKind.DEACTIVATED
    assert event.actor is Actor.ADMIN
    assert "card reported stolen" in event.detail
    timeline = TimelineService(uow=world.uow, sources=[world.customers.timeline]).for_site(site.slug)
    [entry] = [e for e in timeline if e.kind is TimelineKind.ACCOUNT]
    assert "card reported stolen" in entry.summary
    assert EMAIL in entry.summary


def test_reactivation_lets_the_password_work_again_but_earlier_logins_stay_ended(world: World) -> None:
    customer = world.verified()
    before = world.accounts.login(EMAIL, PASSWORD, CLIENT)
    world.customers.deactivate(EMAIL)
    with pytest.raises(Conflict):
        world.customers.deactivate(EMAIL)
    world.customers.reactivate(EMAIL, reason="cleared up")
    after = world.accounts.login(EMAIL, PASSWORD, CLIENT)
    assert world.accounts.authenticate(customer.id, customer.token_version, after.login_id).email == EMAIL
    with pytest.raises(Unauthenticated):
        world.accounts.refresh(before.refresh_token)
    kinds = [e.kind for e in world.customers.show(EMAIL).history]
    assert kinds == [AccountEventKind.DEACTIVATED, AccountEventKind.REACTIVATED]
    with pytest.raises(Conflict):
        world.customers.reactivate(EMAIL)


def test_unknown_addresses_and_overlong_reasons_are_refused_without_a_change(world: World) -> None:
    world.verified()
    with pytest.raises(NotFound):
        world.customers.deactivate("nobody@example.com")
    with pytest.raises(ValidationError):
        world.customers.deactivate("not an address")
    with pytest.raises(ValidationError) as long_reason:
        world.customers.deactivate(EMAIL, reason="x" * 501)
    assert long_reason.value.field == "reason"
    assert world.customer().active
    assert world.customers.show(EMAIL).history == []


# --- list and show ----------------------------------------------------------------------


def test_list_is_newest_first_searchable_filterable_and_paginated(world: World) -> None:
    world.verified("ana@example.com", name="Ana Bakery")
    world.verified("bruno@example.com", name="Bruno Plumbing")
    world.accounts.register("carla@example.com", PASSWORD)  # unverified
    world.clock.advance(dt.timedelta(seconds=1))
    world.verified("dora@example.com")
    world.customers.deactivate("dora@example.com")

    page = world.customers.list()
    assert [c.email for c in page.customers] == [
        "dora@example.com",
        "carla@example.com",
        "bruno@example.com",
        "ana@example.com",
    ]
    assert [c.email for c in world.customers.list(search="  BAKERY ").customers] == ["ana@example.com"]
    assert [c.email for c in world.customers.list(search="bruno@").customers] == ["bruno@example.com"]
    by_status = {s: [c.email for c in world.customers.list(status=s).customers] for s in AccountStatus}
    assert by_status == {
        AccountStatus.ACTIVE: ["bruno@example.com", "ana@example.com"],
        AccountStatus.INACTIVE: ["dora@example.com"],
        AccountStatus.UNVERIFIED: ["carla@example.com"],
    }
    second = world.customers.list(page=2, per_page=3)
    assert [c.email for c in second.customers] == ["ana@example.com"]
    assert (second.total, second.pages) == (4, 2)
    with pytest.raises(ValidationError):
        world.customers.list(page=0)
    with pytest.raises(ValidationError):
        world.customers.list(per_page=501)


def test_show_tells_sites_purchases_emails_logins_and_activity(world: World) -> None:
    owner = world.verified()
    site = world.owned_site(owner)
    purchase = Purchase.new(
        site_id=site.id,
        amount=Money(49900, "GTQ"),
        buyer_email=EMAIL,
        now=world.clock.now(),
        customer_id=owner.id,
    )
    with world.uow() as uow:
        uow.purchases.add(purchase)
        uow.commit()
    with pytest.raises(Unauthenticated):
        world.accounts.login(EMAIL, "wrong guess", "192.0.2.9")
    with pytest.raises(Unauthenticated):
        world.accounts.login(EMAIL, "wrong again", "192.0.2.9")
    assert world.customer().failed_logins == 2
    login = world.accounts.login(EMAIL, PASSWORD, CLIENT)

    profile = world.customers.show(" Rosa@Example.com ")
    assert profile.status is AccountStatus.ACTIVE
    assert [(s.slug, s.status) for s in profile.sites] == [(site.slug, SiteStatus.OWNED)]
    assert [p.id for p in profile.purchases] == [purchase.id]
    assert [e.template for e in profile.emails] == ["verify_email"]
    assert profile.emails[0].status is OutboxStatus.PENDING
    assert [x.login_id for x in profile.logins] == [login.login_id]
    assert profile.customer.last_login_at == world.clock.now()
    assert profile.last_login_address == CLIENT
    # The successful login starts the count of failures again.
    assert profile.customer.failed_logins == 0
    assert profile.customer.last_failed_login_at is not None

    world.accounts.logout(login.refresh_token)
    assert world.customers.show(EMAIL).logins == []


def test_the_last_login_address_is_kept_only_for_the_retention(world: World) -> None:
    assert dt.timedelta(days=90) == DEFAULT_ACTIVITY_RETENTION
    world.verified()
    world.accounts.login(EMAIL, PASSWORD, CLIENT)
    world.clock.advance(DEFAULT_ACTIVITY_RETENTION - dt.timedelta(minutes=1))
    assert world.customers.forget_old_addresses() == 0
    assert world.customers.show(EMAIL).last_login_address == CLIENT
    world.clock.advance(dt.timedelta(minutes=2))
    # Hidden at once, and cleared from storage by the housekeeping.
    assert world.customers.show(EMAIL).last_login_address is None
    assert world.customers.forget_old_addresses() == 1
    assert world.customer().last_login_address is None
    assert world.customer().last_login_at is not None


# --- resend links -------------------------------------------------------------------------


def test_resend_link_sends_a_set_password_link_and_voids_the_earlier_ones(world: World) -> None:
    world.verified()
    world.accounts.forgot_password(EMAIL)
    earlier = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    sent = world.customers.resend_link(EMAIL)
    assert sent.template == "password_reset"
    fresh = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    assert fresh != earlier
    with pytest.raises(InvalidToken):
        world.accounts.reset_password(earlier, "a brand new passphrase")
    world.accounts.set_password(fresh, "a brand new passphrase")
    assert world.accounts.login(EMAIL, "a brand new passphrase", CLIENT).customer.email == EMAIL
    [event] = world.customers.show(EMAIL).history
    assert event.kind is AccountEventKind.LINK_SENT


def test_a_second_resend_voids_the_first_resend(world: World) -> None:
    world.verified()
    world.customers.resend_link(EMAIL)
    first = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    world.customers.resend_link(EMAIL)
    with pytest.raises(InvalidToken):
        world.accounts.set_password(first, "a brand new passphrase")


def test_resend_link_to_an_unverified_account_sends_a_verification_link(world: World) -> None:
    world.accounts.register(EMAIL, PASSWORD)
    earlier = world.token(EmailTemplate.VERIFY_EMAIL, "verify_url")
    assert world.customers.resend_link(EMAIL).template == "verify_email"
    fresh = world.token(EmailTemplate.VERIFY_EMAIL, "verify_url")
    with pytest.raises(InvalidToken):
        world.accounts.verify_email(earlier)
    assert world.accounts.verify_email(fresh).email_verified


def test_resend_link_to_an_account_without_a_password_sends_a_set_password_link(world: World) -> None:
    with world.uow() as uow:
        world.accounts.find_or_create_for_purchase(uow, EMAIL, None, None, world.clock.now())
        uow.commit()
    assert world.customers.resend_link(EMAIL).template == "password_reset"
    token = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    customer = world.accounts.set_password(token, "a brand new passphrase")
    assert customer.email_verified
    with pytest.raises(NotFound):
        world.customers.resend_link("nobody@example.com")


def test_an_unverified_deactivated_account_is_told_it_is_disabled(world: World) -> None:
    world.accounts.register(EMAIL, PASSWORD)
    world.customers.deactivate(EMAIL)
    with pytest.raises(PermissionDenied) as refused:
        world.accounts.login(EMAIL, PASSWORD, CLIENT)
    assert refused.value.detail == ACCOUNT_DISABLED


def test_a_deactivation_during_the_password_check_opens_no_login(world: World) -> None:
    world.verified()

    @attrs.define
    class DeactivatingHasher(FakePasswordHasher):
        """Deactivates the account while the (slow) password check runs."""

        def verify(self, password: str, hashed: str) -> bool:
            world.customers.deactivate(EMAIL, reason="meanwhile")
            return super().verify(password, hashed)

    world.accounts.hasher = DeactivatingHasher()
    with pytest.raises(PermissionDenied):
        world.accounts.login(EMAIL, PASSWORD, CLIENT)
    assert world.uow.store.refresh_sessions == {}
