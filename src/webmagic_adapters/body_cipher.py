"""Queued mail encrypted at rest: AES-256-GCM under a key derived for that purpose.

A pending or dead outbox message's bodies hold live set-password, reset and verify links,
so the database never keeps them in plain text: each body is stored as
``SEALED_PREFIX`` + base64url(nonce || ciphertext || tag). The key is the keyring's
``OUTBOX_BODIES_LABEL`` key (HKDF of ``WEBMAGIC_SECRET_KEY``); while a rotation is under
way, bodies sealed with the previous key still open. The authenticated data names the
message and the column, so a body moved to another row or column does not open.

A value without the prefix is plain text: a row written before encryption, or a
placeholder of a sent message (``REDACTED_TEXT``), which holds nothing secret.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Sequence

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from webmagic_adapters.keys import OUTBOX_BODIES_LABEL, Keyring

SEALED_PREFIX = "wm-sealed:v1:"
_NONCE_BYTES = 12  # 96-bit random nonces: safe for far more messages than an outbox holds


class UnreadableBody(Exception):
    """A sealed body no key of the keyring opens (the key it was sealed with is gone, or the
    value was altered). The message names neither the key nor the stored value."""


@attrs.frozen
class Opened:
    text: str
    # Not sealed with the current key: plain (written before encryption) or sealed with the
    # previous key. Such a body is sealed again with the current key when next written.
    stale: bool


class BodyCipher:
    """Seals and opens text bound to (message id, column). ``keys``: raw 32-byte keys, the
    current one first. With no key (a database opened without the secret key, by the
    migrations say) nothing can be sealed, and sealed bodies do not open."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._aeads = [AESGCM(key) for key in keys]
        self._swept = False

    @classmethod
    def from_keyring(cls, keyring: Keyring) -> BodyCipher:
        return cls([bytes.fromhex(key) for key in keyring.verification_keys(OUTBOX_BODIES_LABEL)])

    def require_key(self) -> None:
        if not self._aeads:
            raise RuntimeError(
                "outbox mail cannot be stored or sent: the database was opened without the secret key"
            )

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(SEALED_PREFIX)

    def seal(self, text: str, message_id: uuid.UUID, column: str) -> str:
        self.require_key()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aeads[0].encrypt(nonce, text.encode("utf-8"), _context(message_id, column))
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, message_id: uuid.UUID, column: str) -> Opened:
        if not self.is_sealed(stored):
            return Opened(stored, stale=True)
        try:
            raw = base64.urlsafe_b64decode(stored[len(SEALED_PREFIX) :].encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise UnreadableBody("the stored body is not a sealed value") from None
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        context = _context(message_id, column)
        for index, aead in enumerate(self._aeads):
            try:
                plain = aead.decrypt(nonce, sealed, context)
            except (InvalidTag, ValueError):
                continue
            return Opened(plain.decode("utf-8"), stale=index > 0)
        raise UnreadableBody("no key of this server opens the stored body")

    def claim_sweep(self) -> bool:
        """True once per cipher (per process): the first relay round re-seals what is stale."""
        if self._swept or not self._aeads:
            return False
        self._swept = True
        return True

    def sweep_failed(self) -> None:
        self._swept = False


def _context(message_id: uuid.UUID, column: str) -> bytes:
    return f"webmagic.outbox:{message_id}:{column}".encode("ascii")
