"""Email-link tokens: properties of both signers (itsdangerous and the stdlib fake) and of
the state binding that makes each link work once."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import string
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webmagic_adapters.tokens import ItsDangerousTokenSigner
from webmagic_core.accounts.errors import ExpiredToken, InvalidToken
from webmagic_core.accounts.ports import TokenSigner
from webmagic_core.accounts.tokens import (
    TokenPurpose,
    issue_token,
    password_fingerprint,
    read_token,
    state_fingerprint,
    verification_fingerprint,
)
from webmagic_core.errors import ValidationError
from webmagic_core.testing import FakeClock
from webmagic_core.testing.accounts import FakePasswordHasher, FakeTokenSigner

SignerFactory = Callable[[str, FakeClock], TokenSigner]
SIGNERS: list[SignerFactory] = [
    lambda key, clock: ItsDangerousTokenSigner(key, clock=clock),
    lambda key, clock: FakeTokenSigner(key, clock=clock),
]
each_signer = pytest.mark.parametrize("make_signer", SIGNERS, ids=["itsdangerous", "fake"])

KEY = "k" * 32
purposes = st.sampled_from(TokenPurpose)
# Payloads are ids and fingerprints; any text that UTF-8 can carry must survive.
texts = st.text(st.characters(codec="utf-8"), max_size=40)
payloads = st.dictionaries(texts, texts, max_size=4)


def only_invalid(signer: TokenSigner, purpose: TokenPurpose, token: str) -> None:
    """Loading must fail as InvalidToken: not expired, and no other exception."""
    with pytest.raises(InvalidToken) as caught:
        signer.load(purpose, token, purpose.max_age)
    assert not isinstance(caught.value, ExpiredToken)


@each_signer
@given(purpose=purposes, payload=payloads)
def test_round_trip(make_signer: SignerFactory, purpose: TokenPurpose, payload: dict[str, str]) -> None:
    signer = make_signer(KEY, FakeClock())
    token = signer.sign(purpose, payload)
    assert signer.load(purpose, token, purpose.max_age) == payload


@each_signer
@given(purpose=purposes, payload=payloads, data=st.data())
def test_changing_any_character_invalidates(
    make_signer: SignerFactory, purpose: TokenPurpose, payload: dict[str, str], data: st.DataObject
) -> None:
    signer = make_signer(KEY, FakeClock())
    token = signer.sign(purpose, payload)
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    # Favour look-alikes: the base64 alphabets (both of them), padding and separators.
    replacement = data.draw(
        st.one_of(st.sampled_from("AZaz09-_+/=.!é"), st.characters()).filter(lambda c: c != token[index]),
        label="replacement",
    )
    only_invalid(signer, purpose, token[:index] + replacement + token[index + 1 :])


LOOK_ALIKES = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.!é "


@each_signer
def test_every_single_character_change_invalidates(make_signer: SignerFactory) -> None:
    """Exhaustive where the property above samples: base64 decoders are lenient ('+' reads
    as '-', unused trailing bits are ignored), so every position meets every look-alike."""
    signer = make_signer(KEY, FakeClock())
    for uid in ("u1", "user-2", "a much longer user id 3"):
        token = signer.sign(TokenPurpose.RESET_PASSWORD, {"uid": uid, "fp": "0123456789abcdef01234567"})
        for index, original in enumerate(token):
            for replacement in LOOK_ALIKES.replace(original, ""):
                only_invalid(
                    signer, TokenPurpose.RESET_PASSWORD, token[:index] + replacement + token[index + 1 :]
                )


@each_signer
@given(purpose=purposes, payload=payloads, cut=st.integers(1, 200))
def test_truncated_or_extended_token_is_invalid(
    make_signer: SignerFactory, purpose: TokenPurpose, payload: dict[str, str], cut: int
) -> None:
    signer = make_signer(KEY, FakeClock())
    token = signer.sign(purpose, payload)
    only_invalid(signer, purpose, token[: max(0, len(token) - cut)])
    only_invalid(signer, purpose, token + "A" * (cut % 5 + 1))


@each_signer
@given(garbage=st.text(max_size=300), purpose=purposes)
def test_any_string_loads_or_is_invalid(
    make_signer: SignerFactory, garbage: str, purpose: TokenPurpose
) -> None:
    only_invalid(make_signer(KEY, FakeClock()), purpose, garbage)


@each_signer
@given(purpose=purposes, other=purposes, payload=payloads)
def test_wrong_purpose_is_invalid(
    make_signer: SignerFactory, purpose: TokenPurpose, other: TokenPurpose, payload: dict[str, str]
) -> None:
    signer = make_signer(KEY, FakeClock())
    token = signer.sign(purpose, payload)
    if other is purpose:
        assert signer.load(other, token, other.max_age) == payload
    else:
        only_invalid(signer, other, token)


@each_signer
@given(purpose=purposes, payload=payloads)
def test_other_key_is_invalid(
    make_signer: SignerFactory, purpose: TokenPurpose, payload: dict[str, str]
) -> None:
    clock = FakeClock()
    token = make_signer(KEY, clock).sign(purpose, payload)
    only_invalid(make_signer(KEY + "x", clock), purpose, token)


@each_signer
@given(purpose=purposes, seconds=st.integers(0, 8 * 24 * 3600))
def test_expiry_follows_the_clock(make_signer: SignerFactory, purpose: TokenPurpose, seconds: int) -> None:
    clock = FakeClock()
    signer = make_signer(KEY, clock)
    token = signer.sign(purpose, {"uid": "u1"})
    clock.advance(dt.timedelta(seconds=seconds))
    if seconds <= purpose.max_age.total_seconds():
        assert signer.load(purpose, token, purpose.max_age) == {"uid": "u1"}
    else:
        with pytest.raises(ExpiredToken):
            signer.load(purpose, token, purpose.max_age)


@each_signer
@pytest.mark.parametrize("purpose", list(TokenPurpose))
def test_expiry_boundary_is_exactly_max_age(make_signer: SignerFactory, purpose: TokenPurpose) -> None:
    clock = FakeClock()
    signer = make_signer(KEY, clock)
    token = signer.sign(purpose, {"uid": "u1"})
    clock.advance(purpose.max_age)
    assert signer.load(purpose, token, purpose.max_age) == {"uid": "u1"}
    clock.advance(dt.timedelta(seconds=1))
    with pytest.raises(ExpiredToken, match="expired"):
        signer.load(purpose, token, purpose.max_age)


@each_signer
def test_token_from_the_future_is_invalid(make_signer: SignerFactory) -> None:
    clock = FakeClock()
    token = make_signer(KEY, clock).sign(TokenPurpose.RESET_PASSWORD, {"uid": "u1"})
    clock.advance(dt.timedelta(hours=-1))
    only_invalid(make_signer(KEY, clock), TokenPurpose.RESET_PASSWORD, token)


@each_signer
def test_tokens_are_url_safe(make_signer: SignerFactory) -> None:
    token = make_signer(KEY, FakeClock()).sign(TokenPurpose.VERIFY_EMAIL, {"uid": "ü/?&=#", "fp": "x" * 24})
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert set(token) <= allowed


@each_signer
def test_payload_must_be_strings(make_signer: SignerFactory) -> None:
    with pytest.raises(TypeError):
        make_signer(KEY, FakeClock()).sign(TokenPurpose.VERIFY_EMAIL, {"uid": 1})  # type: ignore[dict-item]


def test_token_errors_are_validation_errors_on_the_token_field() -> None:
    for error in (InvalidToken(), ExpiredToken()):
        assert isinstance(error, ValidationError)
        assert error.field == "token"


def test_purposes_have_their_lifetimes_and_distinct_salts() -> None:
    assert TokenPurpose.VERIFY_EMAIL.max_age == dt.timedelta(hours=48)
    assert TokenPurpose.RESET_PASSWORD.max_age == dt.timedelta(hours=1)
    assert TokenPurpose.SET_PASSWORD.max_age == dt.timedelta(days=7)
    assert len({p.salt for p in TokenPurpose}) == len(TokenPurpose)


def test_empty_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        ItsDangerousTokenSigner("")


# --- state binding: each link works once --------------------------------------------------


@each_signer
@given(
    purpose=st.sampled_from([TokenPurpose.RESET_PASSWORD, TokenPurpose.SET_PASSWORD]),
    before=st.one_of(st.none(), texts),
    after=texts,
)
def test_password_change_voids_the_token(
    make_signer: SignerFactory, purpose: TokenPurpose, before: str | None, after: str
) -> None:
    signer = make_signer(KEY, FakeClock())
    token = issue_token(signer, purpose, "user-1", password_fingerprint(before))
    claims = read_token(signer, purpose, token)
    assert claims.user_id == "user-1"
    claims.check_fingerprint(password_fingerprint(before))
    if (before or "") == after:
        claims.check_fingerprint(password_fingerprint(after))
    else:
        with pytest.raises(InvalidToken):
            claims.check_fingerprint(password_fingerprint(after))


@each_signer
def test_reset_link_is_single_use_even_with_the_same_new_password(make_signer: SignerFactory) -> None:
    signer, hasher = make_signer(KEY, FakeClock()), FakePasswordHasher()
    stored = hasher.hash("old password 1")
    token = issue_token(signer, TokenPurpose.RESET_PASSWORD, "user-1", password_fingerprint(stored))

    # First use: the fingerprint matches, the password changes.
    read_token(signer, TokenPurpose.RESET_PASSWORD, token).check_fingerprint(password_fingerprint(stored))
    stored = hasher.hash("new password 1")
    # Second use, even after setting that same password again: hashes are salted, so it fails.
    claims = read_token(signer, TokenPurpose.RESET_PASSWORD, token)
    with pytest.raises(InvalidToken):
        claims.check_fingerprint(password_fingerprint(stored))
    with pytest.raises(InvalidToken):
        claims.check_fingerprint(password_fingerprint(hasher.hash("new password 1")))


@each_signer
def test_verifying_voids_the_verification_link(make_signer: SignerFactory) -> None:
    signer = make_signer(KEY, FakeClock())
    token = issue_token(
        signer, TokenPurpose.VERIFY_EMAIL, "user-1", verification_fingerprint("rosa@example.com", False)
    )
    claims = read_token(signer, TokenPurpose.VERIFY_EMAIL, token)
    claims.check_fingerprint(verification_fingerprint("rosa@example.com", False))
    with pytest.raises(InvalidToken):
        claims.check_fingerprint(verification_fingerprint("rosa@example.com", True))
    with pytest.raises(InvalidToken):
        claims.check_fingerprint(verification_fingerprint("other@example.com", False))


@each_signer
def test_read_token_refuses_a_payload_without_user_or_fingerprint(make_signer: SignerFactory) -> None:
    signer = make_signer(KEY, FakeClock())
    for payload in ({}, {"uid": "u1"}, {"fp": "abc"}, {"uid": "", "fp": "abc"}):
        token = signer.sign(TokenPurpose.SET_PASSWORD, payload)
        with pytest.raises(InvalidToken):
            read_token(signer, TokenPurpose.SET_PASSWORD, token)


@each_signer
def test_read_token_applies_the_purpose_lifetime(make_signer: SignerFactory) -> None:
    clock = FakeClock()
    signer = make_signer(KEY, clock)
    token = issue_token(signer, TokenPurpose.RESET_PASSWORD, "u1", password_fingerprint("h"))
    clock.advance(dt.timedelta(hours=1, seconds=1))
    with pytest.raises(ExpiredToken):
        read_token(signer, TokenPurpose.RESET_PASSWORD, token)


def test_fingerprints_separate_their_inputs() -> None:
    assert password_fingerprint(None) == password_fingerprint("")
    assert password_fingerprint("a") != password_fingerprint("b")
    assert verification_fingerprint("a@x.co", False) != verification_fingerprint("a@x.co", True)
    assert len(password_fingerprint("anything")) == 24


def test_links_signed_with_the_previous_key_still_load_during_a_rotation() -> None:
    clock = FakeClock()
    old_signer = ItsDangerousTokenSigner("old-" + KEY, clock=clock)
    token = old_signer.sign(TokenPurpose.RESET_PASSWORD, {"uid": "1"})

    rotating = ItsDangerousTokenSigner(KEY, previous=["old-" + KEY], clock=clock)
    assert rotating.load(TokenPurpose.RESET_PASSWORD, token, dt.timedelta(hours=1)) == {"uid": "1"}
    fresh = rotating.sign(TokenPurpose.RESET_PASSWORD, {"uid": "2"})
    with pytest.raises(InvalidToken):  # new links are signed with the new key only
        old_signer.load(TokenPurpose.RESET_PASSWORD, fresh, dt.timedelta(hours=1))
    with pytest.raises(InvalidToken):  # and once the previous key is dropped, old links die
        ItsDangerousTokenSigner(KEY, clock=clock).load(
            TokenPurpose.RESET_PASSWORD, token, dt.timedelta(hours=1)
        )


def test_fingerprints_are_stable_across_releases() -> None:
    # Links already mailed must keep working after an upgrade: these values never change.
    assert password_fingerprint("h") == "dd5214ed1a088dc6cbdfdd3d"
    assert password_fingerprint("h", 2) == "8f7f73bc9b55cf88b8e7e409"
    assert password_fingerprint(None) == password_fingerprint("") == "38c71f9fac57fd6db88b54b9"
    assert verification_fingerprint("a@b.c", True) == "45502863885b435e9a39fe00"
    assert verification_fingerprint("a@b.c", False) == "dfc12cb293310909746b1dda"
    assert verification_fingerprint("a@b.c", False, 3) == "cb490f9340192721cb89c791"
    assert state_fingerprint("x\ud800") == "79910d1567b1f0bf798f6c7c"  # any str, even a lone surrogate


def test_a_serial_or_a_flag_changes_the_fingerprint() -> None:
    assert len({password_fingerprint("h", serial) for serial in (0, 1, 2)}) == 3
    variants = {verification_fingerprint("a@b.c", f, serial) for f in (True, False) for serial in (0, 4)}
    assert len(variants) == 4
    assert verification_fingerprint("a@b.c", True, 4) != verification_fingerprint("a@b.c", False, 4)


def test_signer_errors_are_exact() -> None:
    with pytest.raises(ValueError, match=r"^the token secret key is empty$"):
        ItsDangerousTokenSigner(KEY, previous=[""])
    with pytest.raises(TypeError, match=r"^token payloads hold strings only$"):
        ItsDangerousTokenSigner(KEY).sign(TokenPurpose.VERIFY_EMAIL, {"uid": 1})  # type: ignore[dict-item]


def test_a_genuine_token_that_does_not_carry_a_mapping_of_strings_is_invalid() -> None:
    from itsdangerous import URLSafeTimedSerializer

    from webmagic_adapters.tokens import _ClockedSigner

    clock = FakeClock()
    signer = ItsDangerousTokenSigner(KEY, clock=clock)
    purpose = TokenPurpose.VERIFY_EMAIL
    forge = URLSafeTimedSerializer(
        [KEY],
        salt=purpose.salt,
        signer=_ClockedSigner,
        signer_kwargs={"clock": clock, "digest_method": hashlib.sha384},
    )
    assert signer.load(purpose, forge.dumps({"uid": "u1"}), purpose.max_age) == {"uid": "u1"}
    for payload in (["uid", "u1"], {"uid": 1}, {"uid": "u1", "n": None}, "text"):
        only_invalid(signer, purpose, forge.dumps(payload))


def test_the_longest_token_is_2048_characters() -> None:
    signer = ItsDangerousTokenSigner(KEY, clock=FakeClock())
    purpose = TokenPurpose.VERIFY_EMAIL
    noise = random.Random(7)  # incompressible text, so the token grows with the payload
    uid = ""
    token = signer.sign(purpose, {"uid": uid})
    while len(token) < 2048:
        uid += noise.choice(string.ascii_letters + string.digits)
        token = signer.sign(purpose, {"uid": uid})
    assert len(token) == 2048
    assert signer.load(purpose, token, purpose.max_age) == {"uid": uid}
    only_invalid(signer, purpose, "x" + token)
