"""Svix / Standard Webhooks signatures: the verifier the webhook endpoint uses, and a signer.

Scheme (docs/payments.md): the secret is ``whsec_<base64>``; the key is the decoded base64.
The signed content is ``{id}.{timestamp}.{raw body}`` over the exact bytes received, the
signature ``base64(HMAC-SHA256(key, content))``, and the signature header a space-separated
list of ``<version>,<signature>`` entries of which one ``v1`` match is enough. Headers come
as ``svix-id``/``svix-timestamp``/``svix-signature`` or, under the Standard Webhooks names,
``webhook-id``/``webhook-timestamp``/``webhook-signature``.

The HMAC itself is the ``standardwebhooks`` package's (the reference implementation of the
scheme). Its ``Webhook.verify`` is not called as a whole because it reads the wall clock and
a fixed tolerance, while this verifier must use the application's clock (tests, the sandbox
test clock) and a configurable tolerance; and because it decodes the secret leniently, while
a secret that is not strict base64 must be refused at start-up. So the header, id and
timestamp rules live here, the signature comes from the library, and every ``v1`` entry is
compared whole, in constant time.

Neither class keeps the secret string, and no message or repr ever shows the key or the
signature that was expected.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import secrets
from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook as StandardWebhook

from webmagic_core.payments.webhooks import InvalidSignature, VerifiedWebhook
from webmagic_core.ports import Clock

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE = dt.timedelta(seconds=300)
_FAMILIES = ("svix", "webhook")
_MAX_ID_LENGTH = 255
_MAX_TIMESTAMP_DIGITS = 15


class InvalidWebhookSecret(ValueError):
    """The webhook secret cannot be used; the message says why without showing it."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside ``whsec_<base64>`` (the prefix is optional, padding may be missing)."""
    encoded = secret.strip()
    encoded = encoded.removeprefix(SECRET_PREFIX)
    if not encoded:
        raise InvalidWebhookSecret("the webhook secret is empty (expected whsec_ followed by base64)")
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookSecret("the webhook secret is not valid base64 after the whsec_ prefix") from None
    if not key:
        raise InvalidWebhookSecret("the webhook secret decodes to an empty key")
    return key


def generate_secret(num_bytes: int = 24) -> str:
    """A fresh ``whsec_`` secret of the form Svix issues (24 random bytes by default)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(num_bytes)).decode("ascii")


def _signed_at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class SvixWebhookVerifier:
    """Implements ``WebhookVerifier``."""

    def __init__(self, secret: str, *, clock: Clock, tolerance: dt.timedelta = DEFAULT_TOLERANCE) -> None:
        if tolerance < dt.timedelta(0):
            raise ValueError("the timestamp tolerance must not be negative")
        self._scheme = StandardWebhook(decode_secret(secret))
        self._clock = clock
        self.tolerance = tolerance

    def __repr__(self) -> str:
        return f"SvixWebhookVerifier(tolerance={self.tolerance.total_seconds():g}s)"

    def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedWebhook:
        message_id, timestamp, signatures = self._headers(headers)
        if not message_id or len(message_id) > _MAX_ID_LENGTH or not message_id.isprintable():
            raise InvalidSignature("the message id header is empty, too long or not printable")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
            raise InvalidSignature("the timestamp header is not an integer number of seconds")
        sent_at = int(timestamp)
        now = self._clock.now().timestamp()
        limit = self.tolerance.total_seconds()
        if sent_at < now - limit:
            raise InvalidSignature(f"the timestamp is more than {limit:g} s old (stale or replayed delivery)")
        if sent_at > now + limit:
            raise InvalidSignature(f"the timestamp is more than {limit:g} s in the future")

        # "v1,<base64>": compared whole, so a truncated or padded copy of the right one never passes.
        expected = self._scheme.sign(message_id, _signed_at(sent_at), body).encode("ascii")
        seen_v1 = False
        for entry in signatures.split():
            version, comma, _ = entry.partition(",")
            if version != "v1" or not comma:
                continue  # other schemes (v1a, v2...) are not ours to check
            seen_v1 = True
            if hmac.compare_digest(expected, entry.encode("utf-8", "surrogateescape")):
                return VerifiedWebhook(message_id=message_id, timestamp=_signed_at(sent_at), body=body)
        if not seen_v1:
            raise InvalidSignature("the signature header holds no v1 signature")
        raise InvalidSignature("no v1 signature matches the body (wrong secret or altered content)")

    @staticmethod
    def _headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
        lowered = {name.lower(): value for name, value in headers.items()}
        # One family for all three, so a delivery cannot mix an id of one with a signature of the other.
        family = next((f for f in _FAMILIES if f"{f}-id" in lowered), _FAMILIES[0])
        names = (f"{family}-id", f"{family}-timestamp", f"{family}-signature")
        missing = [name for name in names if not lowered.get(name, "").strip()]
        if missing:
            raise InvalidSignature(f"missing webhook header(s): {', '.join(missing)}")
        message_id, timestamp, signatures = (lowered[name].strip() for name in names)
        return message_id, timestamp, signatures


class SvixWebhookSigner:
    """Implements ``WebhookSigner``: headers as Svix sends them (``svix-*`` names, one ``v1``)."""

    def __init__(self, secret: str) -> None:
        self._scheme = StandardWebhook(decode_secret(secret))

    def __repr__(self) -> str:
        return "SvixWebhookSigner()"

    def sign(self, message_id: str, timestamp: dt.datetime, body: bytes) -> Mapping[str, str]:
        if timestamp.tzinfo is None or timestamp.utcoffset() is None:
            raise ValueError("the webhook timestamp must be timezone-aware")
        seconds = int(timestamp.timestamp() // 1)
        signature = self._scheme.sign(message_id, _signed_at(seconds), body)
        return {"svix-id": message_id, "svix-timestamp": str(seconds), "svix-signature": signature}
