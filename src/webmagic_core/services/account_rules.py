"""What an account accepts: email addresses, full names, phone numbers."""

from __future__ import annotations

import enum
import re
import unicodedata

from webmagic_core.errors import ValidationError

MAX_FULL_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254


def basic_normalize_email(raw: str) -> str:
    """Trim and lower-case an address and check its shape (one ``@``, a dotted domain, no
    spaces). The adapters pass a stricter, email-validator based normaliser; this one
    keeps the core and its tests free of third-party code."""
    email = raw.strip().lower()
    local, _, domain = email.rpartition("@")
    labels = domain.split(".")
    if (
        not local
        or "@" in local
        or len(labels) < 2
        or not all(labels)
        or len(email) > MAX_EMAIL_LENGTH
        or any(c.isspace() or unicodedata.category(c) == "Cc" for c in email)
    ):
        raise ValidationError("this is not a valid email address", field="email")
    return email


_LINE_BREAKS = frozenset("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def validate_full_name(value: str | None) -> str | None:
    """One line of at most 200 characters, spaces collapsed; empty means no name."""
    if value is None:
        return None
    if any(c in _LINE_BREAKS for c in value):
        raise ValidationError("the full name must be one line", field="full_name")
    if any(unicodedata.category(c) == "Cc" and c != "\t" for c in value):
        raise ValidationError("the full name contains control characters", field="full_name")
    name = " ".join(value.split())
    if len(name) > MAX_FULL_NAME_LENGTH:
        raise ValidationError(
            f"the full name must be at most {MAX_FULL_NAME_LENGTH} characters long", field="full_name"
        )
    return name or None


_PHONE = re.compile(r"\+?[0-9 ()\-]+")
_PHONE_RULE = "a phone number has 6 to 20 digits, optionally a leading +, spaces, brackets and hyphens"


def validate_phone(value: str | None) -> str | None:
    """E.164-like: 6 to 20 digits, an optional leading ``+``, spaces, ``()`` and ``-``;
    spaces collapsed; empty means no phone."""
    if value is None:
        return None
    phone = " ".join(value.split())
    if not phone:
        return None
    digits = sum(c.isdigit() for c in phone)
    if not _PHONE.fullmatch(phone) or not 6 <= digits <= 20 or not phone.isascii():
        raise ValidationError(_PHONE_RULE, field="phone")
    return phone


class Unset(enum.Enum):
    """Marks an argument that was not given, as opposed to one given as None (a PATCH)."""

    UNSET = "unset"


UNSET = Unset.UNSET
