"""The one place that turns a core ``EmailMessage`` into a MIME message (both mailers use it)."""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
from email.message import EmailMessage as MimeMessage

from webmagic_core.accounts.emails import EmailMessage


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
    mime = MimeMessage(policy=email.policy.SMTPUTF8 if international else email.policy.SMTP)
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
    mime.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return mime
