"""The cipher of queued mail's bodies: authenticated, bound to the message and column, the
previous key opening what it sealed, and nothing of the stored value in its errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from webmagic_adapters.body_cipher import SEALED_PREFIX, BodyCipher, Opened, UnreadableBody
from webmagic_adapters.keys import Keyring

CURRENT = "the-current-secret-key-of-32-bytes-at-least"
PREVIOUS = "the-previous-secret-key-of-32-bytes-at-least"
BODY = "Set your password: https://app.example.com/portal/set-password?token=abc.def-ghi ✓"
ID = uuid.uuid4()


def test_a_sealed_body_opens_to_itself_and_shows_nothing_of_it() -> None:
    cipher = BodyCipher.from_keyring(Keyring(CURRENT))
    sealed = cipher.seal(BODY, ID, "text")
    assert sealed.startswith(SEALED_PREFIX)
    assert "token" not in sealed
    assert "abc.def" not in sealed
    assert cipher.open(sealed, ID, "text") == Opened(BODY, stale=False)
    assert cipher.seal(BODY, ID, "text") != sealed  # a fresh nonce each time


def test_a_body_sealed_with_the_previous_key_opens_during_a_rotation_only() -> None:
    sealed = BodyCipher.from_keyring(Keyring(PREVIOUS)).seal(BODY, ID, "html")
    rotating = BodyCipher.from_keyring(Keyring(CURRENT, previous=PREVIOUS))
    assert rotating.open(sealed, ID, "html") == Opened(BODY, stale=True)
    with pytest.raises(UnreadableBody) as raised:
        BodyCipher.from_keyring(Keyring(CURRENT)).open(sealed, ID, "html")
    assert sealed[len(SEALED_PREFIX) :][:12] not in str(raised.value)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sealed: sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1],  # altered
        lambda sealed: SEALED_PREFIX + "not base64 at all!",
        lambda sealed: SEALED_PREFIX,
    ],
)
def test_an_altered_body_does_not_open(tamper: Callable[[str], str]) -> None:
    cipher = BodyCipher.from_keyring(Keyring(CURRENT))
    sealed = cipher.seal(BODY, ID, "text")
    with pytest.raises(UnreadableBody):
        cipher.open(tamper(sealed), ID, "text")


def test_a_body_opens_only_for_its_own_message_and_column() -> None:
    cipher = BodyCipher.from_keyring(Keyring(CURRENT))
    sealed = cipher.seal(BODY, ID, "text")
    for message_id, column in ((uuid.uuid4(), "text"), (ID, "html")):
        with pytest.raises(UnreadableBody):
            cipher.open(sealed, message_id, column)


def test_a_plain_value_reads_as_it_is_and_is_stale() -> None:
    assert BodyCipher.from_keyring(Keyring(CURRENT)).open(BODY, ID, "text") == Opened(BODY, stale=True)


def test_without_a_key_nothing_is_sealed_and_nothing_sealed_opens() -> None:
    sealed = BodyCipher.from_keyring(Keyring(CURRENT)).seal(BODY, ID, "text")
    unkeyed = BodyCipher(())
    with pytest.raises(RuntimeError, match="without the secret key"):
        unkeyed.seal(BODY, ID, "text")
    with pytest.raises(UnreadableBody):
        unkeyed.open(sealed, ID, "text")
    assert unkeyed.claim_sweep() is False
