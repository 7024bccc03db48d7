"""The one place that turns a core ``EmailMessage`` into a MIME message (both mailers use it)."""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import random
import sys
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage as MimeMessage

from webmagic_core.accounts.emails import EmailMessage


class _CachedHeaderRegistry(HeaderRegistry):
    """The standard header classes, each built once per header name: the stock registry
    builds a new class for every header it parses (``type(...)`` per call), which was
    about a fifth of the CPU of turning a message into MIME."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._classes.clear()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found


_SMTP = email.policy.SMTP.clone(header_factory=_CachedHeaderRegistry())
_SMTPUTF8 = email.policy.SMTPUTF8.clone(header_factory=_CachedHeaderRegistry())


def _boundary() -> str:
    """A multipart boundary in the generator's own format. Set here rather than left to
    the generator, which compiles a new regular expression per message to check that its
    boundary occurs nowhere in the parts; this one cannot: both parts are quoted-printable,
    where "=" is always followed by two hex digits or a line end, never by another "="."""
    return "=" * 15 + f"{random.randrange(sys.maxsize):0{len(repr(sys.maxsize - 1))}d}" + "=="


def sender_address(sender: str) -> str:
    """The bare address of a ``From`` value such as ``WebMagic <no-reply@example.com>``."""
    address = email.utils.parseaddr(sender)[1]
    if "@" not in address or "\n" in sender or "\r" in sender:
        raise ValueError(f"{sender!r} is not a valid sender address")
    return address


def to_mime(message: EmailMessage, *, sender: str, date: dt.datetime | None = None) -> MimeMessage:
    """multipart/alternative: the plain-text part first, then the HTML part (RFC 2046: the
    last part is the richest; clients show the best one they can)."""
    address = sender_address(sender)
    # CRLF line ends, as on the wire; an address that is not ASCII needs SMTPUTF8 (RFC 6531).
    international = not (message.to.isascii() and address.isascii())
    mime = MimeMessage(policy=_SMTPUTF8 if international else _SMTP)
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.format_datetime(date or dt.datetime.now(dt.UTC))
    # Stable across retries, so a mail delivered twice is recognisably one mail.
    mime["Message-ID"] = f"<{message.id}@{address.rpartition('@')[2]}>"
    mime["X-WebMagic-Template"] = message.template.value
    for name, value in message.headers.items():
        mime[name] = value
    # quoted-printable: 7-bit safe for any server, and no line longer than SMTP allows.
    mime.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    mime.make_alternative(boundary=_boundary())
    mime.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return mime
