"""Failed-login throttling (issue: lockout as a weapon), on the in-memory and Redis limiters.

The rules (``ThrottleLimits``): failures are counted per (client, account), per client and
per account; the first two throttle, the account's count only past a ceiling far above one
client's allowance, and then only clients that have failed on that account. The rightful
owner, with the right password, from a client that has not failed, is never refused. A
successful login clears the account's counters; a password reset starts new ones.

``AccountService`` runs on the fakes (its storage is not what is tested here) with each
real limiter, driven by one ``FakeClock``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterator

import attrs
import pytest
import redis

from webmagic_adapters.ratelimit import LimitsRateLimiter, memory_rate_limiter, redis_rate_limiter
from webmagic_core.accounts.customers import Customer
from webmagic_core.accounts.passwords import PasswordPolicy
from webmagic_core.accounts.tokens import TokenPurpose, issue_token, password_fingerprint
from webmagic_core.errors import Throttled, Unauthenticated, ValidationError
from webmagic_core.ports import Clock, RateLimiter
from webmagic_core.services.accounts import AccountLinks, AccountService, Limit, ThrottleLimits
from webmagic_core.testing import FakeClock, FakeUnitOfWorkFactory
from webmagic_core.testing.accounts import FakePasswordHasher, FakeTokenSigner

OWNER = "rosa@example.com"
PASSWORD = "correct horse battery"
WRONG = "wrong password!"
NEW_PASSWORD = "another long passphrase"
ATTACKER = "203.0.113.66"
OWNER_CLIENT = "198.51.100.7"
MINUTE = dt.timedelta(minutes=1)

MakeLimiter = Callable[[Clock], RateLimiter]


@pytest.fixture
def redis_limiters(redis_url: str) -> Iterator[MakeLimiter]:
    """Redis limiters under a fresh key prefix each; their keys deleted after the test."""
    prefixes: list[str] = []
    made: list[LimitsRateLimiter] = []

    def make(clock: Clock) -> RateLimiter:
        prefixes.append(f"webmagic-test:login:{uuid.uuid4().hex}:")
        made.append(redis_rate_limiter(redis_url, clock=clock, prefix=prefixes[-1]))
        return made[-1]

    yield make
    client = redis.Redis.from_url(redis_url)
    try:
        for prefix in prefixes:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
    finally:
        client.close()
        for limiter in made:
            limiter.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_limiter(request: pytest.FixtureRequest) -> MakeLimiter:
    if request.param == "memory":
        return memory_rate_limiter
    factory: MakeLimiter = request.getfixturevalue("redis_limiters")
    return factory


@attrs.define
class CountingHasher(FakePasswordHasher):
    verified: int = 0

    def verify(self, password: str, hashed: str) -> bool:
        self.verified += 1
        return super().verify(password, hashed)


class Site:
    """The account service with one verified owner, on fakes and the limiter under test."""

    def __init__(self, make_limiter: MakeLimiter, limits: ThrottleLimits | None = None) -> None:
        self.clock = FakeClock()
        self.uow = FakeUnitOfWorkFactory()
        self.hasher = CountingHasher()
        self.service = AccountService(
            uow=self.uow,
            clock=self.clock,
            hasher=self.hasher,
            signer=FakeTokenSigner(clock=self.clock),
            policy=PasswordPolicy(frozenset()),
            rate_limiter=make_limiter(self.clock),
            links=AccountLinks("https://app.example.com"),
            limits=limits or ThrottleLimits(),
        )
        self.owner = self.add(OWNER)

    def add(self, email: str) -> Customer:
        customer = Customer.new(
            email=email, now=self.clock.now(), password_hash=self.hasher.hash(PASSWORD), verified=True
        )
        with self.uow() as work:
            work.customers.add(customer)
            work.commit()
        return customer

    def fail(self, client: str, email: str = OWNER, times: int = 1) -> None:
        for _ in range(times):
            with pytest.raises(Unauthenticated):
                self.service.login(email, WRONG, client)

    def throttled(self, client: str, email: str = OWNER, password: str = PASSWORD) -> int:
        with pytest.raises(Throttled) as info:
            self.service.login(email, password, client)
        assert info.value.retry_after is not None
        assert info.value.detail == "too many failed attempts; try again later"
        return info.value.retry_after

    def signs_in(self, client: str, email: str = OWNER, password: str = PASSWORD) -> None:
        assert self.service.login(email, password, client).customer.email == email

    def reset(self, new_password: str) -> None:
        with self.uow() as work:
            customer = work.customers.get(self.owner.id)
        assert customer is not None
        token = issue_token(
            self.service.signer,
            TokenPurpose.RESET_PASSWORD,
            str(customer.id),
            password_fingerprint(customer.password_hash),
        )
        self.service.reset_password(token, new_password)


def test_an_attacker_cannot_lock_the_owner_out(make_limiter: MakeLimiter) -> None:
    site = Site(make_limiter)
    site.fail(ATTACKER, times=5)
    site.throttled(ATTACKER)
    site.fail("203.0.113.67", times=5)  # and from another address, and again later
    site.clock.advance(dt.timedelta(minutes=14))
    site.fail("203.0.113.68", times=5)

    site.signs_in(OWNER_CLIENT)


def test_the_sixth_failure_of_a_client_on_an_account_is_throttled(make_limiter: MakeLimiter) -> None:
    site = Site(make_limiter)
    site.add("joe@example.com")
    for _ in range(5):
        site.fail(ATTACKER)
        site.clock.advance(dt.timedelta(seconds=30))
    checks = site.hasher.verified

    # Refused before any password check, even the right one.
    assert site.throttled(ATTACKER) == 15 * 60 - 5 * 30
    assert site.hasher.verified == checks
    site.signs_in(ATTACKER, "joe@example.com")  # the client may still use another account
    site.clock.advance(dt.timedelta(seconds=15 * 60 - 5 * 30))
    site.signs_in(ATTACKER)


def test_unknown_addresses_are_throttled_like_known_ones(make_limiter: MakeLimiter) -> None:
    site = Site(make_limiter)
    site.fail(ATTACKER, "nobody@example.com", times=5)
    assert site.throttled(ATTACKER, "nobody@example.com") == 15 * 60
    site.fail(OWNER_CLIENT, "nobody@example.com")  # another client still gets an answer


def test_a_client_failing_on_many_accounts_is_throttled_everywhere(make_limiter: MakeLimiter) -> None:
    site = Site(make_limiter)
    for number in range(20):
        site.fail(ATTACKER, f"guess{number}@example.com")

    assert site.throttled(ATTACKER) == 60  # even on an account it never tried
    site.signs_in(OWNER_CLIENT)
    site.clock.advance(MINUTE)
    site.signs_in(ATTACKER)


def test_past_the_account_ceiling_only_clients_that_have_not_failed_may_try(
    make_limiter: MakeLimiter,
) -> None:
    limits = ThrottleLimits(login_per_account=Limit(10, dt.timedelta(hours=1)))
    site = Site(make_limiter, limits)
    for number in range(5):
        site.fail(f"10.0.0.{number}", times=2)  # 10 failures from 5 addresses: the ceiling

    # A client with a recent failure waits for it to age out, though under its own five.
    assert site.throttled("10.0.0.4") == 15 * 60
    # A fresh address gets its one guess, then waits too.
    site.fail("10.0.1.1")
    assert site.throttled("10.0.1.1") == 15 * 60
    # The owner, from a client that has not failed, is let in, which clears the account.
    site.signs_in(OWNER_CLIENT)
    site.fail("10.0.0.4")  # back under the ceiling: its own allowance again


def test_a_successful_login_clears_the_account_counters_only(make_limiter: MakeLimiter) -> None:
    site = Site(make_limiter, ThrottleLimits(login_per_client=Limit(12, dt.timedelta(hours=1))))
    site.fail(ATTACKER, times=4)
    site.signs_in(ATTACKER)
    site.fail(ATTACKER, times=4)  # four more on that account: its count started again
    site.signs_in(ATTACKER)
    # The client's own count was not forgiven: 8 failures so far, 12 allowed.
    site.fail(ATTACKER, "nobody@example.com", times=4)
    assert site.throttled(ATTACKER, "other@example.com") > 0


def test_a_password_reset_lifts_every_throttle_on_the_account(make_limiter: MakeLimiter) -> None:
    limits = ThrottleLimits(login_per_account=Limit(10, dt.timedelta(hours=1)))
    site = Site(make_limiter, limits)
    site.fail(OWNER_CLIENT, times=5)  # the owner forgot the password
    site.fail(ATTACKER, times=5)
    site.fail("10.0.0.1")  # the account is past its ceiling too
    site.throttled("10.0.0.1")
    site.throttled(OWNER_CLIENT)

    site.reset(NEW_PASSWORD)

    site.signs_in(OWNER_CLIENT, password=NEW_PASSWORD)
    site.fail(ATTACKER)  # the attacker's count started again as well, from zero


def test_wrong_current_passwords_count_against_the_client_and_account(make_limiter: MakeLimiter) -> None:
    site = Site(make_limiter)
    for _ in range(5):
        with pytest.raises(ValidationError):
            site.service.change_password(site.owner.id, WRONG, NEW_PASSWORD, client=ATTACKER)
    with pytest.raises(Throttled):
        site.service.change_password(site.owner.id, PASSWORD, NEW_PASSWORD, client=ATTACKER)
    site.throttled(ATTACKER)  # the login form too: same counters

    site.service.change_password(site.owner.id, PASSWORD, NEW_PASSWORD, client=OWNER_CLIENT)
    site.signs_in(ATTACKER, password=NEW_PASSWORD)  # a new password starts new counters


def _client_key(client: str) -> str:
    # As the service names its per-client counter (hashed, so Redis holds no addresses).
    return f"webmagic:login-client:{hashlib.sha256(client.encode()).hexdigest()[:32]}"


def test_a_successful_login_leaves_the_clients_counter_in_the_limiter(make_limiter: MakeLimiter) -> None:
    """Read the limiter itself: the client's failures on other accounts are still counted
    after it signs in to one (one good account must not unlock a client guessing at others)."""
    site = Site(make_limiter)
    limiter = site.service.rate_limiter
    per_client = ThrottleLimits().login_per_client
    for number in range(per_client.count - 1):
        site.fail(ATTACKER, f"guess{number}@example.com")
    key = _client_key(ATTACKER)
    assert limiter.peek(key, limit=per_client.count - 1, window=per_client.window) is not None

    site.signs_in(ATTACKER)

    assert limiter.peek(key, limit=per_client.count - 1, window=per_client.window) is not None
    assert limiter.peek(key, limit=per_client.count, window=per_client.window) is None
    site.fail(ATTACKER, "last-guess@example.com")  # the 20th failure in the minute
    assert limiter.peek(key, limit=per_client.count, window=per_client.window) == 60
    assert site.throttled(ATTACKER) == 60
