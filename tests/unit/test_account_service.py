"""Account use cases against the fakes: every flow, no enumeration, single-use links,
rotating refresh tokens, throttling, and mail that exists only when its change commits."""

from __future__ import annotations

import collections
import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webmagic_core.accounts.customers import REFRESH_TOKEN_LIFETIME, Customer, hash_refresh_token
from webmagic_core.accounts.emails import EmailTemplate
from webmagic_core.accounts.errors import ExpiredToken, InvalidToken
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.accounts.tokens import TokenPurpose, issue_token
from webmagic_core.errors import (
    Conflict,
    PermissionDenied,
    Throttled,
    TransientError,
    Unauthenticated,
    ValidationError,
)
from webmagic_core.outbox import OutboxMessage
from webmagic_core.services.accounts import (
    BAD_CREDENTIALS,
    SESSION_EXPIRED,
    SESSION_INVALID,
    AccountLinks,
    AccountService,
    Limit,
    LoginResult,
    ThrottleLimits,
    basic_normalize_email,
    validate_full_name,
    validate_phone,
)
from webmagic_core.testing import FakeClock, FakeCustomerRepository, FakeRateLimiter, FakeUnitOfWorkFactory
from webmagic_core.testing.accounts import FakePasswordHasher, FakeTokenSigner
from webmagic_core.testing.fakes import FakeUnitOfWork, _Store

PUBLIC_URL = "https://app.example.com"
EMAIL = "rosa@example.com"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long passphrase"
CLIENT = "203.0.113.7"


@attrs.define
class CountingHasher:
    """The fake hasher, counting calls (the no-enumeration tests compare the counts)."""

    inner: FakePasswordHasher = attrs.field(factory=FakePasswordHasher)
    calls: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def hash(self, password: str) -> str:
        self.calls["hash"] += 1
        return self.inner.hash(password)

    def verify(self, password: str, hashed: str) -> bool:
        self.calls["verify"] += 1
        return self.inner.verify(password, hashed)

    def needs_rehash(self, hashed: str) -> bool:
        return self.inner.needs_rehash(hashed)


@attrs.define
class World:
    clock: FakeClock
    uow: FakeUnitOfWorkFactory
    store: _Store
    hasher: CountingHasher
    limiter: FakeRateLimiter
    service: AccountService

    def outbox(self) -> list[OutboxMessage]:
        return list(self.store.outbox.values())

    def mails(self, template: EmailTemplate | None = None, to: str | None = None) -> list[OutboxMessage]:
        return [
            m
            for m in self.outbox()
            if (template is None or m.message.template is template) and (to is None or m.message.to == to)
        ]

    def customer(self, email: str = EMAIL) -> Customer:
        [customer] = [c for c in self.store.customers.values() if c.email == email]
        return customer

    def link(self, template: EmailTemplate, key: str, to: str = EMAIL) -> str:
        """The URL under ``key`` in the data of the latest such mail to ``to`` (queued, not
        rendered yet)."""
        data = self.mails(template, to)[-1].data
        assert data is not None
        return str(data[key])

    def token(self, template: EmailTemplate, key: str, to: str = EMAIL) -> str:
        [token] = parse_qs(urlsplit(self.link(template, key, to)).query)["token"]
        return token

    def registered(self, email: str = EMAIL, password: str = PASSWORD, **profile: str | None) -> Customer:
        self.service.register(email, password, **profile)
        return self.customer(email)

    def verified(self, email: str = EMAIL, password: str = PASSWORD) -> Customer:
        self.registered(email, password)
        return self.service.verify_email(self.token(EmailTemplate.VERIFY_EMAIL, "verify_url", email))


def make_world(uow_class: type[FakeUnitOfWork] | None = None, **overrides: object) -> World:
    """Everything on fakes; ``uow_class`` swaps in a unit of work that misbehaves."""
    clock = FakeClock()
    uow = FakeUnitOfWorkFactory()
    if uow_class is not None:
        overrides["uow"] = lambda: uow_class(store=uow.store)
    hasher = CountingHasher()
    limiter = FakeRateLimiter(clock)
    options: dict[str, object] = {
        "uow": uow,
        "clock": clock,
        "hasher": hasher,
        "signer": FakeTokenSigner(clock=clock),
        "policy": PasswordPolicy(frozenset({"password1", "12345678"})),
        "rate_limiter": limiter,
        "links": AccountLinks(PUBLIC_URL),
        **overrides,
    }
    service = AccountService(**options)  # type: ignore[arg-type]
    return World(clock, uow, uow.store, hasher, limiter, service)


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def service(world: World) -> AccountService:
    return world.service


# --- register and verify ------------------------------------------------------------------


def test_register_creates_an_unverified_account_and_queues_a_verification_mail(world: World) -> None:
    assert world.service.register("  Rosa@Example.COM ", PASSWORD, "Rosa  Díaz", "+502 5555-1234") is None
    customer = world.customer()
    assert customer.email == EMAIL
    assert (customer.full_name, customer.phone) == ("Rosa Díaz", "+502 5555-1234")
    assert not customer.email_verified
    assert customer.password_hash is not None
    assert world.hasher.inner.verify(PASSWORD, customer.password_hash)
    [mail] = world.outbox()
    assert mail.message.template is EmailTemplate.VERIFY_EMAIL
    assert mail.message.to == EMAIL
    assert world.link(EmailTemplate.VERIFY_EMAIL, "verify_url").startswith(
        f"{PUBLIC_URL}/portal/verify-email?token="
    )


def test_register_of_a_known_address_tells_the_mailbox_owner_and_changes_nothing(world: World) -> None:
    original = world.verified()
    assert world.service.register(EMAIL.upper(), "someone else's password", "Mallory") is None
    assert world.customer() == original
    [mail] = world.mails(EmailTemplate.ACCOUNT_EXISTS)
    assert mail.message.to == EMAIL
    assert world.link(EmailTemplate.ACCOUNT_EXISTS, "reset_url").startswith(
        f"{PUBLIC_URL}/portal/reset-password?token="
    )
    assert world.link(EmailTemplate.ACCOUNT_EXISTS, "sign_in_url") == f"{PUBLIC_URL}/portal/login"
    # The reset link in it works.
    world.service.reset_password(world.token(EmailTemplate.ACCOUNT_EXISTS, "reset_url"), NEW_PASSWORD)
    world.service.login(EMAIL, NEW_PASSWORD, CLIENT)


def test_register_answers_the_same_and_hashes_once_whether_or_not_the_address_is_known() -> None:
    known, unknown = make_world(), make_world()
    known.registered()
    known.hasher.calls.clear()
    outcomes = [w.service.register(EMAIL, PASSWORD) for w in (known, unknown)]
    assert outcomes == [None, None]
    assert known.hasher.calls == unknown.hasher.calls == collections.Counter(hash=1)
    assert len(known.outbox()) == 2  # the original verification + "account exists"
    assert len(unknown.outbox()) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b@example.com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "Password1"}, "password"),
        ({"password": "x" * 257}, "password"),
        ({"full_name": "Rosa\nDíaz"}, "full_name"),
        ({"full_name": "R" * 201}, "full_name"),
        ({"phone": "call me"}, "phone"),
        ({"phone": "12345"}, "phone"),
    ],
)
@pytest.mark.parametrize("known", [False, True])
def test_register_input_is_checked_before_the_address_is_looked_up(
    kwargs: dict[str, str], field: str, known: bool
) -> None:
    world = make_world()
    if known:
        world.registered()
    before = (dict(world.uow.store.customers), world.outbox())
    args = {"email": EMAIL, "password": PASSWORD, **kwargs}
    with pytest.raises(ValidationError) as info:
        world.service.register(**args)
    assert info.value.field == field
    assert (dict(world.uow.store.customers), world.outbox()) == before


def test_a_failed_commit_leaves_neither_account_nor_mail() -> None:
    @attrs.define
    class FailingCommit(FakeUnitOfWork):
        def commit(self) -> None:
            raise TransientError("the database is busy")

    world = make_world(FailingCommit)
    with pytest.raises(TransientError):
        world.service.register(EMAIL, PASSWORD)
    assert world.store.customers == {}
    assert world.store.outbox == {}


def test_a_concurrent_registration_of_the_same_address_takes_the_exists_path() -> None:
    """Another request inserts the address between our look-up and our insert: the
    first look-up misses it, the insert conflicts."""
    other = Customer.new(email=EMAIL, now=FakeClock().now(), password_hash="fake$4$x$y")
    store = _Store(customers={other.id: other})

    @attrs.define
    class Racing(FakeCustomerRepository):
        raced: list[bool] = attrs.field(factory=list)

        def get_by_email(self, email: str, *, for_update: bool = False) -> Customer | None:
            if not self.raced:
                self.raced.append(True)
                return None  # the other transaction had not committed yet
            return super().get_by_email(email, for_update=for_update)

    racing = Racing(store)

    @attrs.define
    class RacingUow(FakeUnitOfWork):
        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            self.customers = racing

    world = make_world(uow=lambda: RacingUow(store=store))
    assert world.service.register(EMAIL, PASSWORD) is None
    assert racing.raced == [True]
    assert list(store.customers.values()) == [other]
    assert [m.message.template for m in store.outbox.values()] == [EmailTemplate.ACCOUNT_EXISTS]


def test_verify_email_works_once(world: World) -> None:
    world.registered()
    token = world.token(EmailTemplate.VERIFY_EMAIL, "verify_url")
    world.clock.advance(dt.timedelta(hours=47))
    customer = world.service.verify_email(token)
    assert customer.email_verified_at == world.clock.now()
    assert world.customer().email_verified
    with pytest.raises(InvalidToken) as info:
        world.service.verify_email(token)
    assert info.value.field == "token"


def test_verify_email_refuses_expired_tampered_and_foreign_tokens(world: World) -> None:
    world.registered()
    token = world.token(EmailTemplate.VERIFY_EMAIL, "verify_url")
    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
    with pytest.raises(InvalidToken):
        world.service.verify_email(tampered)
    nobody = issue_token(world.service.signer, TokenPurpose.VERIFY_EMAIL, str(uuid.uuid4()), "x")
    with pytest.raises(InvalidToken):
        world.service.verify_email(nobody)
    not_a_uuid = issue_token(world.service.signer, TokenPurpose.VERIFY_EMAIL, "42", "x")
    with pytest.raises(InvalidToken):
        world.service.verify_email(not_a_uuid)
    world.service.forgot_password(EMAIL)
    with pytest.raises(InvalidToken):
        world.service.verify_email(world.token(EmailTemplate.PASSWORD_RESET, "reset_url"))
    world.clock.advance(dt.timedelta(hours=48, seconds=1))
    with pytest.raises(ExpiredToken):
        world.service.verify_email(token)
    assert not world.customer().email_verified


def test_resend_verification_mails_unverified_accounts_only_and_answers_the_same(world: World) -> None:
    world.registered()
    world.verified("done@example.com")
    before = len(world.outbox())
    world.hasher.calls.clear()
    results = [
        world.service.resend_verification(email)
        for email in (EMAIL, "done@example.com", "nobody@example.com")
    ]
    assert results == [None, None, None]
    assert world.hasher.calls == collections.Counter()
    new = world.outbox()[before:]
    assert [(m.message.template, m.message.to) for m in new] == [(EmailTemplate.VERIFY_EMAIL, EMAIL)]
    # Either link verifies; then both are spent.
    world.service.verify_email(world.token(EmailTemplate.VERIFY_EMAIL, "verify_url"))
    with pytest.raises(InvalidToken):
        world.service.verify_email(world.token(EmailTemplate.VERIFY_EMAIL, "verify_url"))


def test_resend_verification_is_throttled_silently_per_address(world: World) -> None:
    world.registered()
    for _ in range(4):
        assert world.service.resend_verification(EMAIL) is None
    assert len(world.mails(EmailTemplate.VERIFY_EMAIL)) == 1 + 3
    world.clock.advance(dt.timedelta(hours=1))
    world.service.resend_verification(EMAIL)
    assert len(world.mails(EmailTemplate.VERIFY_EMAIL)) == 5


# --- login ------------------------------------------------------------------------------


def test_login_opens_a_session_with_a_refresh_token_stored_hashed(world: World) -> None:
    world.verified()
    result = world.service.login(" ROSA@example.com", PASSWORD, CLIENT)
    assert isinstance(result, LoginResult)
    assert result.customer.email == EMAIL
    assert result.refresh_expires_at == world.clock.now() + REFRESH_TOKEN_LIFETIME
    [session] = world.uow.store.refresh_sessions.values()
    assert session.token_hash == hash_refresh_token(result.refresh_token)
    assert result.refresh_token not in repr(result)


def test_unknown_address_wrong_password_and_no_password_look_alike_and_each_cost_one_check(
    world: World,
) -> None:
    world.verified()
    with world.uow() as tx:
        customer, _ = world.service.find_or_create_for_purchase(
            tx, "buyer@example.com", None, None, world.clock.now()
        )
        customer.email_verified_at = world.clock.now()
        tx.customers.save(customer)
        tx.commit()
    # The dummy hash is made on the first check that needs it, once per service.
    with pytest.raises(Unauthenticated):
        world.service.login("first@example.com", PASSWORD, "warm-up client")
    details = []
    for email, password in [
        ("nobody@example.com", PASSWORD),
        (EMAIL, "wrong password!"),
        ("buyer@example.com", PASSWORD),
        ("not an address", PASSWORD),
    ]:
        world.hasher.calls.clear()
        with pytest.raises(Unauthenticated) as info:
            world.service.login(email, password, CLIENT)
        details.append(info.value.detail)
        assert world.hasher.calls == collections.Counter(verify=1)
    assert details == [BAD_CREDENTIALS] * 4


def test_an_unverified_account_with_the_right_password_is_told_to_verify(world: World) -> None:
    world.registered()
    with pytest.raises(Unauthenticated):
        world.service.login(EMAIL, "wrong password!", CLIENT)
    with pytest.raises(PermissionDenied, match="verify your email first"):
        world.service.login(EMAIL, PASSWORD, CLIENT)
    assert world.uow.store.refresh_sessions == {}


def test_login_rehashes_a_password_made_at_another_cost(world: World) -> None:
    world.verified()
    stronger = CountingHasher(FakePasswordHasher(rounds=5))
    service = attrs.evolve(world.service, hasher=stronger)
    version = world.customer().token_version
    service.login(EMAIL, PASSWORD, CLIENT)
    stored = world.customer().password_hash
    assert stored is not None
    assert stored.startswith("fake$5$")
    assert not stronger.needs_rehash(stored)
    assert world.customer().token_version == version  # nobody is signed out
    service.login(EMAIL, PASSWORD, CLIENT)
    assert stronger.calls["hash"] == 1


def test_production_throttle_defaults_keep_owners_in_and_guessers_out() -> None:
    # Pinned: the contract suite (tests/contract/test_login_throttling.py) runs the rules.
    limits = ThrottleLimits()
    assert limits.login_per_client_account == Limit(5, dt.timedelta(minutes=15))
    assert limits.login_per_client == Limit(20, dt.timedelta(minutes=1))
    assert limits.login_per_account == Limit(100, dt.timedelta(hours=1))
    # The account's ceiling is far above what one client may try in its window.
    per_client_in_account_window = limits.login_per_client_account.count * (
        limits.login_per_account.window / limits.login_per_client_account.window
    )
    assert limits.login_per_account.count >= 5 * per_client_in_account_window


def test_failed_logins_count_per_client_and_account_not_per_account(world: World) -> None:
    world.verified()
    for n in range(5):
        with pytest.raises(Unauthenticated):
            world.service.login(EMAIL, "wrong password!", f"203.0.113.{n}")
    world.service.login(EMAIL, PASSWORD, CLIENT)  # five failures from five clients lock nobody out
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            world.service.login(EMAIL, "wrong password!", "203.0.113.99")
    with pytest.raises(Throttled):
        world.service.login(EMAIL, PASSWORD, "203.0.113.99")
    world.service.login(EMAIL, PASSWORD, CLIENT)


def test_throttle_limits_are_configurable() -> None:
    world = make_world(limits=ThrottleLimits(login_per_client_account=Limit(2, dt.timedelta(minutes=1))))
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            world.service.login(EMAIL, PASSWORD, CLIENT)
    with pytest.raises(Throttled) as info:
        world.service.login(EMAIL, PASSWORD, CLIENT)
    assert info.value.retry_after == 60


# --- refresh and logout -------------------------------------------------------------------


def test_refresh_rotates_the_token(world: World) -> None:
    world.verified()
    first = world.service.login(EMAIL, PASSWORD, CLIENT)
    world.clock.advance(dt.timedelta(days=10))
    second = world.service.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.customer.id == first.customer.id
    assert second.refresh_expires_at == world.clock.now() + REFRESH_TOKEN_LIFETIME
    third = world.service.refresh(second.refresh_token)
    sessions = list(world.uow.store.refresh_sessions.values())
    assert len({s.family_id for s in sessions}) == 1
    assert [s.used_at is not None for s in sessions] == [True, True, False]
    assert third.refresh_token


def test_reusing_a_spent_refresh_token_revokes_the_whole_login(world: World) -> None:
    world.verified()
    stolen = world.service.login(EMAIL, PASSWORD, CLIENT)
    other_device = world.service.login(EMAIL, PASSWORD, CLIENT)
    newer = world.service.refresh(stolen.refresh_token)
    with pytest.raises(Unauthenticated) as info:
        world.service.refresh(stolen.refresh_token)
    assert info.value.detail == SESSION_INVALID
    with pytest.raises(Unauthenticated):
        world.service.refresh(newer.refresh_token)  # the newer token of that login is dead too
    world.service.refresh(other_device.refresh_token)  # another login is untouched


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=8), max_size=12))
def test_only_the_latest_token_of_a_live_login_refreshes(choices: list[int]) -> None:
    """Model: a login is a chain of tokens; presenting its newest token extends it,
    presenting anything else ends it for good."""
    world = make_world()
    world.verified()
    tokens = [world.service.login(EMAIL, PASSWORD, CLIENT).refresh_token]
    alive = True
    for choice in choices:
        index = choice % len(tokens)
        if alive and index == len(tokens) - 1:
            tokens.append(world.service.refresh(tokens[index]).refresh_token)
        else:
            with pytest.raises(Unauthenticated):
                world.service.refresh(tokens[index])
            alive = False
        usable = [s for s in world.store.refresh_sessions.values() if s.usable(world.clock.now())]
        assert len(usable) == (1 if alive else 0)


def test_an_expired_refresh_token_is_refused(world: World) -> None:
    world.verified()
    result = world.service.login(EMAIL, PASSWORD, CLIENT)
    world.clock.advance(REFRESH_TOKEN_LIFETIME)
    with pytest.raises(Unauthenticated) as info:
        world.service.refresh(result.refresh_token)
    assert info.value.detail == SESSION_EXPIRED


def test_an_unknown_refresh_token_is_refused(world: World) -> None:
    with pytest.raises(Unauthenticated):
        world.service.refresh("not-a-token")


def test_logout_revokes_the_login_and_is_idempotent(world: World) -> None:
    world.verified()
    result = world.service.login(EMAIL, PASSWORD, CLIENT)
    newer = world.service.refresh(result.refresh_token)
    assert world.service.logout(result.refresh_token) is None  # a spent token of the login will do
    with pytest.raises(Unauthenticated):
        world.service.refresh(newer.refresh_token)
    world.service.logout(newer.refresh_token)
    world.service.logout("never issued")


def test_authenticate_checks_the_token_version(world: World) -> None:
    customer = world.verified()
    login = world.service.login(EMAIL, PASSWORD, CLIENT).login_id
    assert world.service.authenticate(customer.id, customer.token_version, login).id == customer.id
    with pytest.raises(Unauthenticated):
        world.service.authenticate(customer.id, customer.token_version - 1, login)
    with pytest.raises(Unauthenticated):
        world.service.authenticate(uuid.uuid4(), 1, login)


def test_authenticate_refuses_a_login_that_ended(world: World) -> None:
    customer = world.verified()
    first = world.service.login(EMAIL, PASSWORD, CLIENT)
    other = world.service.login(EMAIL, PASSWORD, CLIENT)
    rotated = world.service.refresh(first.refresh_token)
    assert rotated.login_id == first.login_id != other.login_id
    world.service.authenticate(customer.id, customer.token_version, first.login_id)  # rotation keeps it

    with pytest.raises(Unauthenticated):
        world.service.refresh(first.refresh_token)  # replayed: the login ends
    with pytest.raises(Unauthenticated):
        world.service.authenticate(customer.id, customer.token_version, first.login_id)
    world.service.authenticate(customer.id, customer.token_version, other.login_id)
    world.service.logout(other.refresh_token)
    with pytest.raises(Unauthenticated):
        world.service.authenticate(customer.id, customer.token_version, other.login_id)
    with pytest.raises(Unauthenticated):
        world.service.authenticate(customer.id, customer.token_version, uuid.uuid4())


# --- forgot, reset, set password ----------------------------------------------------------


def test_forgot_password_mails_a_reset_link_to_known_addresses_and_answers_the_same(world: World) -> None:
    world.verified()
    world.hasher.calls.clear()
    assert world.service.forgot_password("nobody@example.com", client=CLIENT) is None
    assert world.service.forgot_password(f" {EMAIL.upper()}", client=CLIENT) is None
    assert world.hasher.calls == collections.Counter()
    [mail] = world.mails(EmailTemplate.PASSWORD_RESET)
    assert mail.message.to == EMAIL
    assert world.link(EmailTemplate.PASSWORD_RESET, "reset_url").startswith(
        f"{PUBLIC_URL}/portal/reset-password?token="
    )


def test_forgot_password_is_throttled_silently_per_address_and_per_client() -> None:
    world = make_world(limits=ThrottleLimits(mail_per_client=Limit(5, dt.timedelta(hours=1))))
    world.verified()
    for _ in range(4):
        assert world.service.forgot_password(EMAIL, client=CLIENT) is None
    assert len(world.mails(EmailTemplate.PASSWORD_RESET)) == 3
    world.verified("other@example.com")
    # The client has made 3 counted requests (the refused 4th counts against nothing).
    for _ in range(3):
        world.service.forgot_password("other@example.com", client=CLIENT)
    assert len(world.mails(EmailTemplate.PASSWORD_RESET, "other@example.com")) == 2  # the 6th is refused
    world.service.forgot_password("other@example.com", client="198.51.100.1")
    assert len(world.mails(EmailTemplate.PASSWORD_RESET, "other@example.com")) == 3


def test_reset_password_changes_it_once_and_signs_out_everywhere(world: World) -> None:
    customer = world.verified()
    session = world.service.login(EMAIL, PASSWORD, CLIENT)
    world.service.forgot_password(EMAIL)
    older = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    world.service.forgot_password(EMAIL)
    token = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    world.clock.advance(dt.timedelta(minutes=59))

    updated = world.service.reset_password(token, NEW_PASSWORD)

    assert updated.token_version == customer.token_version + 1
    assert world.customer().token_version == updated.token_version
    with pytest.raises(Unauthenticated):
        world.service.authenticate(customer.id, customer.token_version, session.login_id)
    with pytest.raises(Unauthenticated):
        world.service.refresh(session.refresh_token)
    assert all(s.revoked_at == world.clock.now() for s in world.uow.store.refresh_sessions.values())
    [notice] = world.mails(EmailTemplate.PASSWORD_CHANGED)
    assert notice.message.to == EMAIL
    for spent in (token, older):
        with pytest.raises(InvalidToken):
            world.service.reset_password(spent, "a third long password")
    with pytest.raises(Unauthenticated):
        world.service.login(EMAIL, PASSWORD, CLIENT)
    world.service.login(EMAIL, NEW_PASSWORD, CLIENT)


def test_the_password_changed_notice_carries_a_working_reset_link(world: World) -> None:
    world.verified()
    world.service.forgot_password(EMAIL)
    world.service.reset_password(world.token(EmailTemplate.PASSWORD_RESET, "reset_url"), NEW_PASSWORD)
    world.service.reset_password(
        world.token(EmailTemplate.PASSWORD_CHANGED, "reset_url"), "taking it back now"
    )
    result = world.service.login(EMAIL, "taking it back now", CLIENT)
    assert result.customer.email == EMAIL
    with pytest.raises(Unauthenticated):
        world.service.login(EMAIL, NEW_PASSWORD, CLIENT)


def test_a_reset_link_expires_after_an_hour(world: World) -> None:
    world.verified()
    world.service.forgot_password(EMAIL)
    world.clock.advance(dt.timedelta(hours=1, seconds=1))
    with pytest.raises(ExpiredToken):
        world.service.reset_password(world.token(EmailTemplate.PASSWORD_RESET, "reset_url"), NEW_PASSWORD)


def test_a_weak_new_password_leaves_the_link_usable(world: World) -> None:
    world.verified()
    world.service.forgot_password(EMAIL)
    token = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    world.hasher.calls.clear()
    with pytest.raises(ValidationError) as info:
        world.service.reset_password(token, "12345678")
    assert info.value.field == "new_password"
    assert world.hasher.calls == collections.Counter()
    world.service.reset_password(token, NEW_PASSWORD)


def test_a_spent_link_is_refused_before_any_hashing(world: World) -> None:
    world.verified()
    world.service.forgot_password(EMAIL)
    token = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    world.service.reset_password(token, NEW_PASSWORD)
    world.hasher.calls.clear()
    with pytest.raises(InvalidToken):
        world.service.reset_password(token, NEW_PASSWORD)
    assert world.hasher.calls == collections.Counter()


def test_a_reset_proves_the_mailbox_and_verifies_the_address(world: World) -> None:
    world.registered()
    world.service.forgot_password(EMAIL)
    customer = world.service.reset_password(
        world.token(EmailTemplate.PASSWORD_RESET, "reset_url"), NEW_PASSWORD
    )
    assert customer.email_verified_at == world.clock.now()
    world.service.login(EMAIL, NEW_PASSWORD, CLIENT)


def test_a_failed_reset_commit_changes_nothing_and_queues_nothing() -> None:
    failing = {"on": False}

    @attrs.define
    class MaybeFailing(FakeUnitOfWork):
        def commit(self) -> None:
            if failing["on"]:
                raise TransientError("the database is busy")
            super().commit()

    world = make_world(MaybeFailing)
    store = world.store
    world.service.register(EMAIL, PASSWORD)
    store.outbox.clear()
    world.service.forgot_password(EMAIL)
    token = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    before = attrs.evolve(next(iter(store.customers.values())))
    failing["on"] = True
    with pytest.raises(TransientError):
        world.service.reset_password(token, NEW_PASSWORD)
    assert next(iter(store.customers.values())) == before
    assert [m.message.template for m in store.outbox.values()] == [EmailTemplate.PASSWORD_RESET]


def test_a_purchase_account_sets_its_password_through_the_welcome_link(world: World) -> None:
    with world.uow() as tx:
        customer, created = world.service.find_or_create_for_purchase(
            tx, "Buyer@Example.com", "Bea Buyer", "+1 (555) 010-9999", world.clock.now()
        )
        tx.commit()
    assert created
    assert (customer.email, customer.password_hash, customer.email_verified) == (
        "buyer@example.com",
        None,
        False,
    )
    link = world.service.set_password_link(customer)
    assert link.startswith(f"{PUBLIC_URL}/portal/set-password?token=")
    [token] = parse_qs(urlsplit(link).query)["token"]
    with pytest.raises(Unauthenticated):
        world.service.login("buyer@example.com", NEW_PASSWORD, CLIENT)

    world.clock.advance(dt.timedelta(days=6))
    updated = world.service.set_password(token, NEW_PASSWORD)
    assert updated.email_verified
    world.service.login("buyer@example.com", NEW_PASSWORD, CLIENT)
    with pytest.raises(InvalidToken):
        world.service.set_password(token, "yet another password")


def test_the_reset_endpoint_takes_both_kinds_of_link_and_set_password_only_its_own(world: World) -> None:
    customer = world.verified()
    welcome = parse_qs(urlsplit(world.service.set_password_link(customer)).query)["token"][0]
    world.service.forgot_password(EMAIL)
    reset = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")
    with pytest.raises(InvalidToken):
        world.service.set_password(reset, NEW_PASSWORD)
    with pytest.raises(InvalidToken):
        world.service.reset_password(welcome, NEW_PASSWORD, purpose=TokenPurpose.RESET_PASSWORD)
    world.service.reset_password(welcome, NEW_PASSWORD)  # either purpose: the welcome link works
    with pytest.raises(InvalidToken):
        world.service.reset_password(reset, "a third long password")  # and voided the reset link


def test_a_welcome_link_expires_after_seven_days(world: World) -> None:
    with world.uow() as tx:
        customer, _ = world.service.find_or_create_for_purchase(
            tx, "buyer@example.com", None, None, world.clock.now()
        )
        tx.commit()
    [token] = parse_qs(urlsplit(world.service.set_password_link(customer)).query)["token"]
    world.clock.advance(dt.timedelta(days=7, seconds=1))
    with pytest.raises(ExpiredToken):
        world.service.reset_password(token, NEW_PASSWORD)


def test_find_or_create_for_purchase_reuses_an_account_and_fills_blanks_only(world: World) -> None:
    original = world.verified()
    with world.uow() as tx:
        customer, created = world.service.find_or_create_for_purchase(
            tx, EMAIL.upper(), "Rosa Díaz", "not a phone", world.clock.now()
        )
        tx.commit()
    assert not created
    assert customer.id == original.id
    assert (world.customer().full_name, world.customer().phone) == ("Rosa Díaz", None)
    with world.uow() as tx:
        world.service.find_or_create_for_purchase(tx, EMAIL, "Someone Else", "+1 555 0100", world.clock.now())
        tx.commit()
    assert (world.customer().full_name, world.customer().phone) == ("Rosa Díaz", "+1 555 0100")


def test_find_or_create_for_purchase_writes_only_when_the_caller_commits(world: World) -> None:
    with world.uow() as tx:
        world.service.find_or_create_for_purchase(tx, "buyer@example.com", None, None, world.clock.now())
    assert world.uow.store.customers == {}
    with world.uow() as tx, pytest.raises(ValidationError):
        world.service.find_or_create_for_purchase(tx, "no address", None, None, world.clock.now())


# --- change password ----------------------------------------------------------------------


def test_change_password_needs_the_current_one_and_signs_out_everywhere(world: World) -> None:
    customer = world.verified()
    session = world.service.login(EMAIL, PASSWORD, CLIENT)
    with pytest.raises(ValidationError) as info:
        world.service.change_password(customer.id, "not my password", NEW_PASSWORD)
    assert info.value.field == "current_password"
    assert world.service.change_password(customer.id, PASSWORD, NEW_PASSWORD) is None
    assert world.customer().token_version == customer.token_version + 1
    with pytest.raises(Unauthenticated):
        world.service.refresh(session.refresh_token)
    assert len(world.mails(EmailTemplate.PASSWORD_CHANGED)) == 1
    world.service.login(EMAIL, NEW_PASSWORD, CLIENT)


def test_change_password_checks_the_new_one_first(world: World) -> None:
    customer = world.verified()
    with pytest.raises(ValidationError) as info:
        world.service.change_password(customer.id, "not my password", "password1")
    assert info.value.field == "new_password"


def test_wrong_current_passwords_count_as_failed_logins(world: World) -> None:
    customer = world.verified()
    for _ in range(5):
        with pytest.raises(ValidationError):
            world.service.change_password(customer.id, "not my password", NEW_PASSWORD, client=CLIENT)
    with pytest.raises(Throttled):
        world.service.change_password(customer.id, PASSWORD, NEW_PASSWORD, client=CLIENT)
    with pytest.raises(Throttled):
        world.service.login(EMAIL, PASSWORD, CLIENT)


def test_change_password_for_a_vanished_account_is_unauthenticated(world: World) -> None:
    with pytest.raises(Unauthenticated):
        world.service.change_password(uuid.uuid4(), PASSWORD, NEW_PASSWORD)


def test_a_password_changed_meanwhile_is_a_conflict(world: World) -> None:
    customer = world.verified()

    @attrs.define
    class RacingHasher(CountingHasher):
        def hash(self, password: str) -> str:
            # Another request sets a new password while we hash ours.
            world.uow.store.customers[customer.id].password_hash = "fake$4$0$other"
            return super().hash(password)

    service = attrs.evolve(world.service, hasher=RacingHasher(world.hasher.inner))
    with pytest.raises(Conflict, match="changed meanwhile"):
        service.change_password(customer.id, PASSWORD, NEW_PASSWORD)
    assert world.mails(EmailTemplate.PASSWORD_CHANGED) == []


# --- profile ------------------------------------------------------------------------------


def test_me_and_update_profile(world: World) -> None:
    customer = world.verified()
    world.registered("x@example.com")
    assert world.service.me(customer.id).email == EMAIL
    world.clock.advance(dt.timedelta(minutes=1))
    updated = world.service.update_profile(customer.id, full_name="  Rosa   Díaz ")
    assert (updated.full_name, updated.phone, updated.updated_at) == ("Rosa Díaz", None, world.clock.now())
    updated = world.service.update_profile(customer.id, phone="+502 5555 1234")
    assert (updated.full_name, updated.phone) == ("Rosa Díaz", "+502 5555 1234")
    updated = world.service.update_profile(customer.id, full_name=None)
    assert (updated.full_name, updated.phone) == (None, "+502 5555 1234")
    assert world.service.me(customer.id) == updated
    unchanged = world.service.update_profile(customer.id)
    assert unchanged == updated
    with pytest.raises(Unauthenticated):
        world.service.me(uuid.uuid4())
    with pytest.raises(Unauthenticated):
        world.service.update_profile(uuid.uuid4(), full_name="x")


def test_update_profile_refuses_bad_values_and_changes_nothing(world: World) -> None:
    customer = world.verified()
    with pytest.raises(ValidationError) as info:
        world.service.update_profile(customer.id, full_name="ok", phone="12")
    assert info.value.field == "phone"
    assert world.customer().full_name is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        (" Rosa \t Díaz ", "Rosa Díaz"),
        ("R" * 200, "R" * 200),
    ],
)
def test_full_names(raw: str | None, expected: str | None) -> None:
    assert validate_full_name(raw) == expected


@pytest.mark.parametrize("raw", ["a\nb", "a\rb", "a\u2028b", "a\x00b", "R" * 201])
def test_bad_full_names(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_full_name(raw)
    assert info.value.field == "full_name"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("  ", None),
        ("+502 5555-1234", "+502 5555-1234"),
        ("(555)  010 9999", "(555) 010 9999"),
        ("123456", "123456"),
        ("+" + "1" * 20, "+" + "1" * 20),
    ],
)
def test_phones(raw: str | None, expected: str | None) -> None:
    assert validate_phone(raw) == expected


FULL_WIDTH_DIGITS = "\uff15\uff15\uff15\uff11\uff12\uff13\uff14\uff15"


@pytest.mark.parametrize(
    "raw", ["12345", "1" * 21, "555 CALL ME", "555+1234567", "++5551234567", FULL_WIDTH_DIGITS]
)
def test_bad_phones(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_phone(raw)
    assert info.value.field == "phone"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Rosa@Example.COM ", "rosa@example.com"), ("a.b+tag@sub.example.org", "a.b+tag@sub.example.org")],
)
def test_basic_email_normalisation(raw: str, expected: str) -> None:
    assert basic_normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "rosa", "@example.com", "rosa@", "rosa@example", "rosa@.com", "ro sa@example.com", "a@b@c.com"],
)
def test_bad_emails(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        basic_normalize_email(raw)
    assert info.value.field == "email"


def test_a_custom_email_normaliser_is_used() -> None:
    world = make_world(normalize_email=lambda raw: raw.strip().lower().replace("googlemail.com", "gmail.com"))
    world.service.register("Rosa@GoogleMail.com", PASSWORD)
    assert world.customer("rosa@gmail.com")


# --- links --------------------------------------------------------------------------------


def test_links_encode_the_token_and_keep_a_path_prefix() -> None:
    links = AccountLinks("https://example.com/app/")
    assert links.public_url == "https://example.com/app"
    assert (
        links.verify_email("a+b/c=d&e")
        == "https://example.com/app/portal/verify-email?token=a%2Bb%2Fc%3Dd%26e"
    )
    assert links.reset_password("t") == "https://example.com/app/portal/reset-password?token=t"
    assert links.set_password("t") == "https://example.com/app/portal/set-password?token=t"


@pytest.mark.parametrize("url", ["example.com", "ftp://example.com", "https://", "https://x.test/?a=1"])
def test_links_need_an_absolute_http_url(url: str) -> None:
    with pytest.raises(ValidationError, match="absolute http"):
        AccountLinks(url)


def test_the_customer_repository_fake_keeps_addresses_unique(world: World) -> None:
    world.registered()
    with world.uow() as tx:
        with pytest.raises(Conflict):
            tx.customers.add(Customer.new(email=EMAIL, now=world.clock.now()))
        other = Customer.new(email="other@example.com", now=world.clock.now())
        tx.customers.add(other)
        other.email = EMAIL
        with pytest.raises(Conflict):
            tx.customers.save(other)


def test_a_password_reset_during_a_login_check_fails_the_login(world: World) -> None:
    customer = world.verified()

    @attrs.define
    class RacingHasher(CountingHasher):
        def verify(self, password: str, hashed: str) -> bool:
            ok = super().verify(password, hashed)
            # The owner resets the password while this login's check runs.
            world.store.customers[customer.id].set_password("fake$4$0$new", world.clock.now())
            return ok

    service = attrs.evolve(world.service, hasher=RacingHasher(world.hasher.inner))
    with pytest.raises(Unauthenticated):
        service.login(EMAIL, PASSWORD, CLIENT)
    assert world.store.refresh_sessions == {}


def test_a_concurrent_rehash_does_not_fail_a_login(world: World) -> None:
    customer = world.verified()
    stronger = FakePasswordHasher(rounds=5)

    @attrs.define
    class RacingHasher(CountingHasher):
        def hash(self, password: str) -> str:
            # Another login of the same customer stores its rehash first.
            world.store.customers[customer.id].password_hash = stronger.hash(password)
            return super().hash(password)

    service = attrs.evolve(world.service, hasher=RacingHasher(stronger))
    result = service.login(EMAIL, PASSWORD, CLIENT)
    assert result.customer.token_version == customer.token_version
    assert stronger.verify(PASSWORD, world.customer().password_hash or "")


def test_a_link_used_twice_at_once_works_only_once(world: World) -> None:
    customer = world.verified()
    world.service.forgot_password(EMAIL)
    token = world.token(EmailTemplate.PASSWORD_RESET, "reset_url")

    @attrs.define
    class RacingHasher(CountingHasher):
        def hash(self, password: str) -> str:
            # The same link is used by another request while we hash.
            world.store.customers[customer.id].set_password("fake$4$0$other", world.clock.now())
            return super().hash(password)

    service = attrs.evolve(world.service, hasher=RacingHasher(world.hasher.inner))
    with pytest.raises(InvalidToken):
        service.reset_password(token, NEW_PASSWORD)
    assert world.mails(EmailTemplate.PASSWORD_CHANGED) == []


# --- exact answers and recorded state (what mutation testing found unchecked) ----------------


def test_a_successful_login_records_when_and_from_where_and_clears_the_failure_count(world: World) -> None:
    world.verified()
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            world.service.login(EMAIL, "wrong password!", CLIENT)
    assert world.customer().failed_logins == 2
    world.clock.advance(dt.timedelta(minutes=3))
    long_client = "2001:db8::" + "f" * 140
    world.service.login(EMAIL, PASSWORD, long_client)
    customer = world.customer()
    assert (customer.failed_logins, customer.last_login_at) == (0, world.clock.now())
    assert customer.last_login_address == long_client[:100]


def test_a_disabled_account_is_told_so_and_its_sessions_stop_refreshing(world: World) -> None:
    customer = world.verified()
    result = world.service.login(EMAIL, PASSWORD, CLIENT)
    with world.uow() as tx:
        current = tx.customers.get(customer.id)
        assert current is not None
        current.deactivated_at = world.clock.now()
        tx.customers.save(current)
        tx.commit()
    with pytest.raises(PermissionDenied) as denied:
        world.service.login(EMAIL, PASSWORD, CLIENT)
    assert denied.value.detail == "this account has been disabled; contact support to have it enabled again"
    with pytest.raises(Unauthenticated) as refused:
        world.service.refresh(result.refresh_token)
    assert refused.value.detail == SESSION_INVALID


def test_refusals_name_their_reason_exactly(world: World) -> None:
    world.registered()
    with pytest.raises(PermissionDenied) as unverified:
        world.service.login(EMAIL, PASSWORD, CLIENT)
    assert unverified.value.detail == "verify your email first: follow the link we sent you"
    with pytest.raises(Unauthenticated) as unknown:
        world.service.refresh("not-a-token")
    assert unknown.value.detail == SESSION_INVALID
    customer = world.customer()
    with pytest.raises(Unauthenticated) as revoked:
        world.service.authenticate(customer.id, customer.token_version + 1, uuid.uuid4())
    assert revoked.value.detail == "the access token is no longer valid; sign in again"


def test_a_reused_refresh_token_is_logged_with_the_login_and_customer(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    customer = world.verified()
    first = world.service.login(EMAIL, PASSWORD, CLIENT)
    world.service.refresh(first.refresh_token)
    with caplog.at_level("WARNING", logger="webmagic_core.services.accounts"), pytest.raises(Unauthenticated):
        world.service.refresh(first.refresh_token)
    assert f"refresh token reused: login {first.login_id} of customer {customer.id} revoked" in [
        r.getMessage() for r in caplog.records
    ]


def test_sign_out_everywhere_is_dated(world: World) -> None:
    customer = world.verified()
    world.clock.advance(dt.timedelta(hours=2))
    world.service.sign_out_everywhere(customer.id)
    assert world.customer().updated_at == world.clock.now()
    with pytest.raises(Unauthenticated) as revoked:
        world.service.sign_out_everywhere(uuid.uuid4())
    assert revoked.value.detail == "the access token is no longer valid; sign in again"
