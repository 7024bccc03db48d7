"""Ports of the accounts and email building blocks.

Adapters: ``webmagic_adapters.passwords``, ``.tokens``, ``.mail``; fakes:
``webmagic_core.testing.accounts``. Each pair passes one contract suite.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Protocol

from webmagic_core.accounts.emails import EmailMessage, EmailTemplate
from webmagic_core.accounts.tokens import TokenPurpose


class PasswordHasher(Protocol):
    """Hashes and checks passwords. Blocking and slow by design (bcrypt): async callers
    run these methods in a worker thread, never on the event loop."""

    def hash(self, password: str) -> str:
        """A salted hash of ``password`` as given (no trimming, no truncation); never raises
        for any ``str`` (policy checks happen before, in ``PasswordPolicy``)."""
        ...

    def verify(self, password: str, hashed: str) -> bool:
        """Whether ``password`` matches ``hashed``, in time independent of where they differ.
        A malformed ``hashed`` is a mismatch, not an error."""
        ...

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with other parameters (cost) than this hasher uses."""
        ...


class TokenSigner(Protocol):
    """Signs small string payloads into URL-safe tokens, one key space per purpose."""

    def sign(self, purpose: TokenPurpose, payload: Mapping[str, str]) -> str: ...

    def load(self, purpose: TokenPurpose, token: str, max_age: dt.timedelta) -> dict[str, str]:
        """The payload of a token signed for ``purpose`` at most ``max_age`` ago.

        Raises ``ExpiredToken`` when it is older, ``InvalidToken`` for anything else wrong
        (tampered, malformed, signed for another purpose or with another key)."""
        ...


class Mailer(Protocol):
    """Hands a message to the mail system. Blocking I/O: async callers use a thread."""

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` or raise ``MailDeliveryError`` (``transient`` when a retry may
        succeed). May deliver twice if retried after an ambiguous failure; the Message-ID
        (from ``message.id``) stays the same."""
        ...


class EmailRenderer(Protocol):
    def render(
        self,
        template: EmailTemplate,
        to: str,
        data: Mapping[str, object],
        *,
        site_id: uuid.UUID | None = None,
    ) -> EmailMessage:
        """Subject, text and HTML for ``template`` from ``data`` (keys: ``TEMPLATE_FIELDS``).

        Raises ``EmailDataError`` when ``data`` misses a required key or has an unknown one."""
        ...
