"""``TokenSigner`` on itsdangerous: URL-safe, timestamped, one salt per purpose."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from webmagic_core.accounts.errors import ExpiredToken, InvalidToken
from webmagic_core.accounts.tokens import TokenPurpose
from webmagic_core.clock import SystemClock
from webmagic_core.ports import Clock

MAX_TOKEN_LENGTH = 2048
# The payload and timestamp are signed as text, but itsdangerous decodes the signature
# leniently ("+" reads as "-", "/" as "_", stray characters are dropped): insisting on the
# one canonical spelling makes every other spelling of a valid token invalid.
_SIGNATURE = re.compile(r"\.[A-Za-z0-9_-]{64}\Z")


class _ClockedSigner(TimestampSigner):
    """Takes "now" from a ``Clock`` instead of ``time.time()``, so expiry can be tested."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.now().timestamp())


class ItsDangerousTokenSigner:
    def __init__(self, secret_key: str, *, previous: Sequence[str] = (), clock: Clock | None = None) -> None:
        """Signs with ``secret_key``; verifies with it and with each of ``previous`` (a key
        being rotated out, newest first)."""
        if not secret_key or not all(previous):
            raise ValueError("the token secret key is empty")
        # itsdangerous takes the keys oldest first and signs with the last one.
        keys = [*reversed(previous), secret_key]
        self._clock = clock or SystemClock()
        # SHA-384: its 48-byte MAC is exactly 64 base64 characters with no spare bits (with
        # SHA-1 or SHA-256 the last character carries unused bits and could be changed
        # without breaking the signature); see _SIGNATURE for the rest of that story.
        self._serializers = {
            purpose: URLSafeTimedSerializer(
                keys,
                salt=purpose.salt,
                signer=_ClockedSigner,
                signer_kwargs={"clock": self._clock, "digest_method": hashlib.sha384},
            )
            for purpose in TokenPurpose
        }

    def sign(self, purpose: TokenPurpose, payload: Mapping[str, str]) -> str:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in payload.items()):
            raise TypeError("token payloads hold strings only")
        return self._serializers[purpose].dumps(dict(payload))

    def load(self, purpose: TokenPurpose, token: str, max_age: dt.timedelta) -> dict[str, str]:
        if len(token) > MAX_TOKEN_LENGTH or not _SIGNATURE.search(token):
            raise InvalidToken()
        serializer = self._serializers[purpose]
        try:
            payload = serializer.loads(token, max_age=int(max_age.total_seconds()))
        except SignatureExpired as exc:
            if exc.date_signed is not None and exc.date_signed > self._clock.now():
                raise InvalidToken() from None  # "signed in the future": not ours to trust
            raise ExpiredToken() from None
        except (BadSignature, ValueError, TypeError):
            raise InvalidToken() from None
        if not isinstance(payload, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in payload.items()
        ):
            raise InvalidToken()
        return dict(payload)
