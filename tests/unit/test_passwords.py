"""The password policy, and the shipped list of common passwords it is given."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webmagic_adapters.passwords import load_common_passwords
from webmagic_core.accounts.passwords import MAX_LENGTH, MIN_LENGTH, PasswordPolicy
from webmagic_core.errors import ValidationError

SMALL = PasswordPolicy(frozenset({"password1", "qwertyuiop"}))


@pytest.fixture(scope="module")
def policy() -> PasswordPolicy:
    return PasswordPolicy(load_common_passwords())


def test_length_limits_are_8_and_256() -> None:
    assert (MIN_LENGTH, MAX_LENGTH) == (8, 256)
    assert SMALL.check("k7#Qm2!x") == "k7#Qm2!x"
    assert SMALL.check("k" * 256) == "k" * 256
    with pytest.raises(ValidationError, match="at least 8 characters") as short:
        SMALL.check("k7#Qm2!")
    assert short.value.field == "password"
    with pytest.raises(ValidationError, match="at most 256 characters"):
        SMALL.check("k" * 257)


def test_length_counts_characters_not_bytes() -> None:
    assert SMALL.check("🔑" * 8) == "🔑" * 8  # 32 bytes, 8 characters
    assert SMALL.check("é" * 256) == "é" * 256  # 512 bytes
    with pytest.raises(ValidationError):
        SMALL.check("🔑" * 7)


def test_checked_as_received_without_trimming() -> None:
    # Seven characters plus spaces: the spaces count, and they are kept.
    assert SMALL.check("  abcdefg") == "  abcdefg"
    with pytest.raises(ValidationError, match="at least"):
        SMALL.check("abcdefg")


@pytest.mark.parametrize("weak", ["password1", "Password1", "PASSWORD1", " password1 ", "qwertyuiop"])
def test_common_passwords_are_refused_whatever_their_case(weak: str) -> None:
    with pytest.raises(ValidationError, match="most commonly used"):
        SMALL.check(weak)


def test_field_name_is_reported() -> None:
    with pytest.raises(ValidationError) as caught:
        SMALL.check("short", field="new_password")
    assert caught.value.field == "new_password"


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(ValidationError, match="not valid text"):
        SMALL.check("abc\ud800defgh")


@given(st.text(st.characters(codec="utf-8"), min_size=MIN_LENGTH, max_size=MAX_LENGTH))
def test_any_other_password_is_accepted_unchanged(password: str) -> None:
    if password.strip().lower() not in SMALL.common_passwords:
        assert SMALL.check(password) is password


def test_shipped_list_has_the_10000_most_common_passwords() -> None:
    common = load_common_passwords()
    assert len(common) == 10_000
    assert {"123456", "password", "12345678", "qwerty", "iloveyou", "trustno1"} <= common
    assert all(entry == entry.lower().strip() and entry for entry in common)
    assert load_common_passwords() is common, "loaded once"


@pytest.mark.parametrize("weak", ["password", "baseball", "Football", "iloveyou", "12345678", "trustno1"])
def test_policy_with_the_shipped_list_refuses_common_passwords(policy: PasswordPolicy, weak: str) -> None:
    with pytest.raises(ValidationError, match="most commonly used"):
        policy.check(weak)


def test_policy_with_the_shipped_list_accepts_a_decent_password(policy: PasswordPolicy) -> None:
    assert policy.check("rosas bakery since 1987") == "rosas bakery since 1987"


def test_policy_repr_does_not_dump_the_list(policy: PasswordPolicy) -> None:
    assert repr(policy) == "PasswordPolicy(common_passwords=<10000 passwords>)"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("k7#Qm2!", "the password must be at least 8 characters long"),
        ("k" * 257, "the password must be at most 256 characters long"),
        ("abc\udfffdefgh", "the password contains characters that are not valid text"),
        (" Password1", "this password is one of the most commonly used passwords; choose another"),
    ],
)
def test_each_refusal_says_exactly_which_rule(password: str, message: str) -> None:
    for field in ("password", "new_password"):
        with pytest.raises(ValidationError) as caught:
            SMALL.check(password, field=field)
        assert (str(caught.value), caught.value.field) == (message, field)


def test_characters_next_to_the_surrogate_range_are_text() -> None:
    assert SMALL.check("abc\ud7ffdefgh") == "abc\ud7ffdefgh"
    assert SMALL.check("abc\ue000defgh") == "abc\ue000defgh"
