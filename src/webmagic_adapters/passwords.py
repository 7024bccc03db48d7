"""bcrypt password hashing, and the shipped list of common passwords."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from importlib import resources

import attrs
import bcrypt


def _prehash(password: str) -> bytes:
    # bcrypt reads at most 72 bytes (bcrypt 5 raises beyond) and stops at NUL; base64 of
    # SHA-256 is 44 printable bytes, so every character of a long password counts.
    # surrogatepass: a lone surrogate in a JSON body hashes instead of crashing a login.
    digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest)


@attrs.frozen
class BcryptPasswordHasher:
    """``PasswordHasher`` on bcrypt ($2b$) over a SHA-256 pre-hash. Blocking: run in a thread."""

    rounds: int = attrs.field(default=12, validator=[attrs.validators.ge(4), attrs.validators.le(31)])

    def hash(self, password: str) -> str:
        return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=self.rounds)).decode("ascii")

    def verify(self, password: str, hashed: str) -> bool:
        if _cost(hashed) is None:
            return False
        try:
            return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))
        except ValueError:  # a damaged hash of the right shape (salt bits out of range)
            return False

    def needs_rehash(self, hashed: str) -> bool:
        return _cost(hashed) != self.rounds


_BCRYPT = re.compile(r"\$2b\$([0-9]{2})\$[./A-Za-z0-9]{53}")


def _cost(hashed: str) -> int | None:
    """The cost of a well-formed $2b$ hash, else None."""
    match = _BCRYPT.fullmatch(hashed)
    return int(match.group(1)) if match else None


@functools.cache
def load_common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords (lower case), read once from the package data.

    Source and licence: ``data/common-passwords.NOTICE.md``.
    """
    text = resources.files("webmagic_adapters").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)
