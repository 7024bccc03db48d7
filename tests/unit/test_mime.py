"""``to_mime`` builds the same bytes as the standard library's stock SMTP policies would,
boundary aside: its header classes are built once per name and its boundary is set, not
searched for, and neither may change what goes on the wire."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import re
import uuid
from email.headerregistry import UnstructuredHeader
from email.message import EmailMessage as MimeMessage

import pytest

from webmagic_adapters.mail.mime import _CachedHeaderRegistry, sender_address, to_mime
from webmagic_core.accounts.emails import EmailMessage, EmailTemplate

DATE = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
SENDERS = ["WebMagic <no-reply@webmagic.example>", "Wébmagic Ñ <no-reply@webmagic.example>"]
MESSAGES = [
    {
        "to": "rosa@example.com",
        "subject": "Receipt: the website for Rosa's Bakery",
        "text": "Hi,\n",
        "html": "<p>Hi</p>",
    },
    {
        "to": "rósa@exämple.com",
        "subject": "Recibo: el sitio de Panadería Ñandú " + "é" * 90,
        "text": "Hola ñ\n" + "x" * 300 + "\nFrom here\n.\n",
        "html": "<p>ñ " + "y" * 2000 + "</p>\n",
    },
    {
        "to": "a@b.example",
        "subject": "= signs ==== and --boundary-- " + "word " * 40,
        "text": "=\n==\n--===============0000000000000000000==\n",
        "html": "",
        "headers": {"X-Campaign": "v" * 200, "List-Unsubscribe": "<https://webmagic.example/u?t=1>"},
    },
    {
        "to": "a@b.example",
        "subject": "ünïcödé subject, ASCII address",
        "text": "CRLF\r\ntab\there  \n",
        "html": "<b>é</b>",
    },
]


def stock_mime(message: EmailMessage, sender: str) -> MimeMessage:
    """What ``to_mime`` built before its shortcuts: the stock policies throughout."""
    address = sender_address(sender)
    international = not (message.to.isascii() and address.isascii())
    mime = MimeMessage(policy=email.policy.SMTPUTF8 if international else email.policy.SMTP)
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.format_datetime(DATE)
    mime["Message-ID"] = f"<{message.id}@{address.rpartition('@')[2]}>"
    mime["X-WebMagic-Template"] = message.template.value
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    mime.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return mime


def boundary_of(raw: bytes) -> bytes:
    found = re.search(rb'boundary="([^"]+)"', raw)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("fields", MESSAGES)
def test_the_bytes_are_the_stock_policys_boundary_aside(fields: dict[str, object], sender: str) -> None:
    message = EmailMessage(id=uuid.uuid4(), template=EmailTemplate.PURCHASE_CONFIRMATION, **fields)  # type: ignore[arg-type]
    ours = to_mime(message, sender=sender, date=DATE).as_bytes()
    stock = stock_mime(message, sender).as_bytes()
    assert ours.replace(boundary_of(ours), b"B") == stock.replace(boundary_of(stock), b"B")


@pytest.mark.parametrize("fields", MESSAGES)
def test_the_boundary_is_fresh_and_splits_the_parts_back(fields: dict[str, object]) -> None:
    message = EmailMessage(id=uuid.uuid4(), template=EmailTemplate.VERIFY_EMAIL, **fields)  # type: ignore[arg-type]
    raws = [to_mime(message, sender=SENDERS[0]).as_bytes() for _ in range(2)]
    boundaries = [boundary_of(raw) for raw in raws]
    assert boundaries[0] != boundaries[1]
    for raw, boundary in zip(raws, boundaries, strict=True):
        assert raw.count(b"--" + boundary) == 3  # two parts and the closing line
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, MimeMessage)
        parts = list(parsed.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        # set_content ends a body without a final line break with one.
        assert [str(p.get_content()).replace("\r\n", "\n").rstrip("\n") for p in parts] == [
            message.text.replace("\r\n", "\n").rstrip("\n"),
            message.html.replace("\r\n", "\n").rstrip("\n"),
        ]


def test_header_classes_are_built_once_per_name_and_rebuilt_after_a_remap() -> None:
    registry = _CachedHeaderRegistry()
    to = registry["To"]
    assert registry["to"] is to
    assert registry["Subject"] is not to
    assert str(registry("To", "Rosa <rosa@example.com>")) == "Rosa <rosa@example.com>"
    registry.map_to_type("to", UnstructuredHeader)
    assert registry["To"] is not to
    assert issubclass(registry["To"], UnstructuredHeader)
