"""One contract for every ``PasswordHasher``: the fake and bcrypt (at the cheapest cost)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webmagic_adapters.passwords import BcryptPasswordHasher
from webmagic_core.accounts.ports import PasswordHasher
from webmagic_core.testing.accounts import FakePasswordHasher

HasherFactory = Callable[[int], PasswordHasher]
FACTORIES: dict[str, HasherFactory] = {
    "fake": lambda rounds: FakePasswordHasher(rounds=rounds),
    "bcrypt": lambda rounds: BcryptPasswordHasher(rounds=rounds),
}


@pytest.fixture(params=sorted(FACTORIES))
def make_hasher(request: pytest.FixtureRequest) -> HasherFactory:
    return FACTORIES[request.param]


@pytest.fixture
def hasher(make_hasher: HasherFactory) -> PasswordHasher:
    return make_hasher(4)


def test_round_trip(hasher: PasswordHasher) -> None:
    hashed = hasher.hash("correct horse battery staple")
    assert hashed != "correct horse battery staple"
    assert hasher.verify("correct horse battery staple", hashed)


def test_wrong_password_does_not_verify(hasher: PasswordHasher) -> None:
    hashed = hasher.hash("correct horse battery staple")
    for wrong in (
        "correct horse battery stapl",
        "Correct horse battery staple",
        "",
        " correct horse battery staple",
    ):
        assert not hasher.verify(wrong, hashed), wrong


def test_hashes_are_salted(hasher: PasswordHasher) -> None:
    first, second = hasher.hash("same password"), hasher.hash("same password")
    assert first != second
    assert hasher.verify("same password", first)
    assert hasher.verify("same password", second)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("x" * 255 + "a", "x" * 255 + "b", id="256-chars-differ-in-last"),
        pytest.param("y" * 80 + "1", "y" * 80 + "2", id="ascii-beyond-72-bytes"),
        pytest.param("é" * 40 + "a", "é" * 40 + "b", id="utf8-beyond-72-bytes"),
        pytest.param("abc\x00def-long-enough", "abc\x00xyz-long-enough", id="after-a-NUL"),
    ],
)
def test_long_passwords_are_not_truncated(hasher: PasswordHasher, a: str, b: str) -> None:
    hashed = hasher.hash(a)
    assert hasher.verify(a, hashed)
    assert not hasher.verify(b, hashed)


def test_unicode_is_taken_as_given(hasher: PasswordHasher) -> None:
    password = "pässwörd ✓ 🔑 密码"
    hashed = hasher.hash(password)
    assert hasher.verify(password, hashed)
    # No normalisation: precomposed é and e + combining accent are different passwords.
    composed, decomposed = "caf\u00e9-au-lait", "cafe\u0301-au-lait"
    assert not hasher.verify(decomposed, hasher.hash(composed))


@pytest.mark.parametrize(
    "odd", ["", "\ud800 lone surrogate", "z" * 10_000], ids=["empty", "surrogate", "huge"]
)
def test_never_raises_for_any_string(hasher: PasswordHasher, odd: str) -> None:
    hashed = hasher.hash(odd)
    assert hasher.verify(odd, hashed)
    assert not hasher.verify(odd + "!", hashed)


@pytest.mark.parametrize(
    "garbage",
    ["", "not a hash", "$2b$04$short", "fake$4$salt", "$2b$04$" + "é" * 53, "$argon2id$v=19$m=1,t=1,p=1$x$y"],
)
def test_malformed_hash_is_a_mismatch_not_an_error(hasher: PasswordHasher, garbage: str) -> None:
    assert not hasher.verify("any password", garbage)
    assert hasher.needs_rehash(garbage)


def test_needs_rehash_when_the_cost_changes(make_hasher: HasherFactory) -> None:
    cheap, dearer = make_hasher(4), make_hasher(5)
    hashed = cheap.hash("a fine password")
    assert not cheap.needs_rehash(hashed)
    assert dearer.needs_rehash(hashed)
    assert dearer.verify("a fine password", hashed), "an old-cost hash still verifies until rehashed"
    assert not dearer.needs_rehash(dearer.hash("a fine password"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.text(max_size=300), b=st.text(max_size=300))
def test_different_passwords_never_verify(hasher: PasswordHasher, a: str, b: str) -> None:
    hashed = hasher.hash(a)
    assert hasher.verify(a, hashed)
    assert hasher.verify(b, hashed) == (a == b)


def test_bcrypt_hash_format_and_cost() -> None:
    hashed = BcryptPasswordHasher(rounds=5).hash("a fine password")
    assert hashed.startswith("$2b$05$")
    assert len(hashed) == 60


def test_bcrypt_refuses_out_of_range_cost() -> None:
    with pytest.raises(ValueError, match="rounds"):
        BcryptPasswordHasher(rounds=3)


@pytest.mark.parametrize("bad", "/AZz9")
def test_a_bcrypt_hash_of_the_right_shape_with_a_damaged_salt_is_a_mismatch(bad: str) -> None:
    # The shape check passes; bcrypt itself refuses the salt (ValueError): a mismatch, never a match.
    hasher = BcryptPasswordHasher(rounds=4)
    hashed = hasher.hash("correct horse battery")
    damaged = hashed[:28] + bad + hashed[29:]
    assert damaged != hashed
    assert hasher.verify("correct horse battery", damaged) is False
    assert hasher.verify("correct horse battery", hashed) is True
