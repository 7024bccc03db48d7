"""Keys for each purpose, derived from ``WEBMAGIC_SECRET_KEY`` with HKDF (RFC 5869).

The secret key itself signs nothing. Each use gets its own 32-byte key, derived with
HKDF-SHA256 under a label naming the use (access tokens, email links, each form's CSRF
cookie, preview links), so a signature made for one use is worthless for any other, and
seeing many of one kind tells nothing about the others. The same derivation gives the key
that encrypts queued mail at rest.

Rotation: set the new key in ``WEBMAGIC_SECRET_KEY`` and the old one in
``WEBMAGIC_SECRET_KEY_PREVIOUS``. New tokens are signed with the new key only; tokens
signed with the previous key keep verifying until it is removed (see docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac

import attrs

MIN_SECRET_BYTES = 32
KEY_BYTES = 32
# HKDF's salt: fixed, so the same secret always gives the same keys (RFC 5869 §3.1 allows
# a non-secret constant; the secret's own strength is what matters).
_SALT = b"webmagic.hkdf.v1"

# The labels of the uses (each module that signs something names its own; listed here so
# they stay distinct): "webmagic.jwt.access.v1" (webmagic_http.auth), "webmagic.links.email.v1"
# (email links), "webmagic.csrf.{portal,purchase,sandbox}.v1" (the HTML forms),
# "webmagic.links.preview.v1" (preview links), "webmagic.purchase-return.v1" (the signed
# checkout return pages), "webmagic.outbox.bodies.v1" (queued mail's bodies, encrypted at
# rest: webmagic_adapters.body_cipher).
EMAIL_LINKS_LABEL = "webmagic.links.email.v1"
PREVIEW_LINKS_LABEL = "webmagic.links.preview.v1"
PURCHASE_RETURN_LABEL = "webmagic.purchase-return.v1"
OUTBOX_BODIES_LABEL = "webmagic.outbox.bodies.v1"


def hkdf_sha256(secret: bytes, info: bytes, *, length: int = KEY_BYTES, salt: bytes = _SALT) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with ``salt``, expand with ``info`` to ``length`` bytes."""
    if not 0 < length <= 255 * hashlib.sha256().digest_size:
        raise ValueError(f"HKDF-SHA256 cannot make {length} bytes")
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        output += block
        counter += 1
    return output[:length]


def key_material_bytes(secret: str) -> int:
    return len(secret.encode("utf-8"))


@attrs.frozen
class Keyring:
    """The current secret key and, while a rotation is under way, the previous one."""

    current: str = attrs.field(repr=False)
    previous: str | None = attrs.field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.current:
            raise ValueError("the secret key is empty")

    def key(self, label: str) -> str:
        """The key that signs for ``label`` (hex, as the HMAC libraries take text keys)."""
        return _derive(self.current, label)

    def verification_keys(self, label: str) -> tuple[str, ...]:
        """Every key a signature for ``label`` may verify with: the current one first."""
        if not self.previous or self.previous == self.current:
            return (self.key(label),)
        return (self.key(label), _derive(self.previous, label))


def _derive(secret: str, label: str) -> str:
    return hkdf_sha256(secret.encode("utf-8"), label.encode("utf-8")).hex()
