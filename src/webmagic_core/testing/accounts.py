"""Fakes of the accounts and email ports: fast, deterministic, and held to the same
contract suites as the real adapters (tests/contract, tests/unit/test_tokens.py)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import html
import itertools
import json
import uuid
from collections.abc import Mapping

import attrs

from webmagic_core.accounts.emails import TEMPLATE_FIELDS, EmailMessage, EmailTemplate, FieldKind, check_data
from webmagic_core.accounts.errors import ExpiredToken, InvalidToken, MailDeliveryError
from webmagic_core.accounts.tokens import TokenPurpose
from webmagic_core.clock import SystemClock
from webmagic_core.ports import Clock


def _utf8(text: str) -> bytes:
    # surrogatepass: a lone surrogate from a JSON body must not crash a login.
    return text.encode("utf-8", "surrogatepass")


@attrs.define
class FakePasswordHasher:
    """``fake$<rounds>$<salt>$<sha256(salt, password)>``.

    Salted like bcrypt (the salt is a counter, so runs are reproducible): hashing the same
    password twice gives two hashes, which is what makes reset tokens single-use even when
    a user sets the same password again.
    """

    rounds: int = 4
    _salts: itertools.count[int] = attrs.field(factory=itertools.count, init=False, repr=False)

    def hash(self, password: str) -> str:
        salt = f"{next(self._salts):08x}"
        return f"fake${self.rounds}${salt}${self._digest(salt, password)}"

    def verify(self, password: str, hashed: str) -> bool:
        parts = self._parse(hashed)
        if parts is None:
            return False
        _, salt, digest = parts
        return hmac.compare_digest(self._digest(salt, password).encode(), digest.encode())

    def needs_rehash(self, hashed: str) -> bool:
        parts = self._parse(hashed)
        return parts is None or parts[0] != self.rounds

    @staticmethod
    def _digest(salt: str, password: str) -> str:
        return hashlib.sha256(_utf8(salt) + b"$" + _utf8(password)).hexdigest()

    @staticmethod
    def _parse(hashed: str) -> tuple[int, str, str] | None:
        parts = hashed.split("$")
        if len(parts) != 4 or parts[0] != "fake" or not parts[1].isdigit():
            return None
        return int(parts[1]), parts[2], parts[3]


@attrs.define
class FakeTokenSigner:
    """An HMAC-SHA256 signer on the stdlib, with times from a ``Clock``.

    Format: ``base64url(json).hex(hmac)``; the MAC covers the encoded text and the
    purpose's salt, so any changed character or another purpose fails.
    """

    secret_key: str = "fake-secret-key"  # noqa: S105 - test fixture
    clock: Clock = attrs.field(factory=SystemClock)

    def sign(self, purpose: TokenPurpose, payload: Mapping[str, str]) -> str:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in payload.items()):
            raise TypeError("token payloads hold strings only")
        document = {"p": purpose.value, "d": dict(payload), "t": self._now()}
        raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"{body}.{self._mac(purpose, body)}"

    def load(self, purpose: TokenPurpose, token: str, max_age: dt.timedelta) -> dict[str, str]:
        body, _, mac = token.rpartition(".")
        if not body or not hmac.compare_digest(_utf8(mac), _utf8(self._mac(purpose, body))):
            raise InvalidToken()
        try:
            document = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, binascii.Error):
            raise InvalidToken() from None
        if not isinstance(document, dict):
            raise InvalidToken()
        payload, issued = document.get("d"), document.get("t")
        if document.get("p") != purpose.value or not isinstance(payload, dict) or not isinstance(issued, int):
            raise InvalidToken()
        age = self._now() - issued
        if age < 0:
            raise InvalidToken()
        if age > int(max_age.total_seconds()):
            raise ExpiredToken()
        return {str(k): str(v) for k, v in payload.items()}

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def _mac(self, purpose: TokenPurpose, body: str) -> str:
        key = _utf8(f"{self.secret_key}\x00{purpose.salt}")
        return hmac.new(key, _utf8(body), hashlib.sha256).hexdigest()


@attrs.define
class FakeMailer:
    """Records what it sends in ``sent``; ``fail_next`` makes the next sends fail."""

    sent: list[EmailMessage] = attrs.field(factory=list)
    attempts: int = 0
    _failures: list[bool] = attrs.field(factory=list, repr=False)

    def fail_next(self, count: int = 1, *, transient: bool = True) -> None:
        self._failures.extend([transient] * count)

    def send(self, message: EmailMessage) -> None:
        self.attempts += 1
        if self._failures:
            transient = self._failures.pop(0)
            kind = "transient" if transient else "permanent"
            raise MailDeliveryError(f"fake {kind} failure sending to {message.to}", transient=transient)
        self.sent.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if m.to == address]


@attrs.define
class FakeEmailRenderer:
    """Checks the data like the real renderer and writes it out as ``key: value`` lines,
    so a test can read a link back from ``text``; ``rendered`` keeps the data given."""

    rendered: list[tuple[EmailTemplate, str, dict[str, object]]] = attrs.field(factory=list)

    def render(
        self,
        template: EmailTemplate,
        to: str,
        data: Mapping[str, object],
        *,
        site_id: uuid.UUID | None = None,
    ) -> EmailMessage:
        check_data(template, data)
        self.rendered.append((template, to, dict(data)))
        fields = TEMPLATE_FIELDS[template]
        lines = [f"{key}: {data[key]}" for key in sorted(data) if data[key] is not None]
        links = [
            f'<a href="{html.escape(str(data[key]))}">{key}</a>'
            for key in sorted(data)
            if fields.kind(key) is FieldKind.URL and data[key] is not None
        ]
        body = "".join(f"<p>{html.escape(line)}</p>" for line in lines) + "".join(links)
        return EmailMessage(
            id=uuid.uuid4(),
            to=to,
            subject=f"[{template.value}]",
            text="\n".join(lines) + "\n",
            html=f"<html><body>{body}</body></html>",
            template=template,
            site_id=site_id,
        )
