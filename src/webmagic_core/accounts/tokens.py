"""Tokens for email links: their purposes, lifetimes, and the state they are bound to.

A token is signed (``TokenSigner``) and carries the user id plus a *fingerprint* of the
state the link changes: the password hash for reset and set-password links, the address
and verification flag for verify-email links. Using the link changes that state, and so
does a later password change, so the fingerprint no longer matches and the same token is
refused: each link works once, without storing anything per token.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
from typing import TYPE_CHECKING

import attrs

from webmagic_core.accounts.errors import InvalidToken

if TYPE_CHECKING:  # ports.py names TokenPurpose in its signatures
    from webmagic_core.accounts.ports import TokenSigner


class TokenPurpose(enum.StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name
    SET_PASSWORD = "set_password"  # noqa: S105 - a purpose name
    # A draft's preview link (signed with its own key: webmagic_adapters.keys).
    EDIT_PREVIEW = "edit_preview"

    @property
    def max_age(self) -> dt.timedelta:
        return _MAX_AGE[self]

    @property
    def salt(self) -> str:
        """Separates the purposes: a token signed for one never loads as another."""
        return f"webmagic.token.{self.value}.v1"


_MAX_AGE = {
    TokenPurpose.VERIFY_EMAIL: dt.timedelta(hours=48),
    TokenPurpose.RESET_PASSWORD: dt.timedelta(hours=1),
    TokenPurpose.SET_PASSWORD: dt.timedelta(days=7),
    TokenPurpose.EDIT_PREVIEW: dt.timedelta(days=7),
}

_USER = "uid"
_FINGERPRINT = "fp"


def state_fingerprint(*parts: str) -> str:
    """A short digest of the state a token is bound to (not secret: tokens are readable)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:24]


def password_fingerprint(password_hash: str | None, serial: int = 0) -> str:
    """Binds reset and set-password tokens: any password change (hashes are salted) voids
    them, and so does a new ``serial`` (an operator resent the link). Serial 0 gives the
    fingerprint links had before serials existed, so those stay valid."""
    if serial:
        return state_fingerprint("password", password_hash or "", str(serial))
    return state_fingerprint("password", password_hash or "")


def verification_fingerprint(email: str, verified: bool, serial: int = 0) -> str:
    """Binds verify-email tokens to the address and the flag: verifying voids the link;
    so does a new ``serial`` (an operator resent the link)."""
    if serial:
        return state_fingerprint("verify", email, "1" if verified else "0", str(serial))
    return state_fingerprint("verify", email, "1" if verified else "0")


@attrs.frozen
class TokenClaims:
    """What a loaded token says: whose it is and the state it was issued against."""

    purpose: TokenPurpose
    user_id: str
    fingerprint: str

    def check_fingerprint(self, current: str) -> None:
        """Raise ``InvalidToken`` unless the state is still the one the token was issued for."""
        if not hmac.compare_digest(self.fingerprint.encode(), current.encode()):
            raise InvalidToken()


def issue_token(signer: TokenSigner, purpose: TokenPurpose, user_id: str, fingerprint: str) -> str:
    return signer.sign(purpose, {_USER: user_id, _FINGERPRINT: fingerprint})


def read_token(signer: TokenSigner, purpose: TokenPurpose, token: str) -> TokenClaims:
    """Verify signature, purpose and age; the caller then checks the fingerprint against the user."""
    payload = signer.load(purpose, token, purpose.max_age)
    user_id, fingerprint = payload.get(_USER), payload.get(_FINGERPRINT)
    if not user_id or not fingerprint:
        raise InvalidToken()
    return TokenClaims(purpose=purpose, user_id=user_id, fingerprint=fingerprint)
