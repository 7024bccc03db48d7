"""Email address normalisation with email-validator (syntax only, never a DNS look-up)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from webmagic_core.errors import ValidationError


def normalize_email(raw: str) -> str:
    """Trim, validate and lower-case an address; raise ``ValidationError`` naming the problem."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValidationError(f"this is not a valid email address: {exc}", field="email") from None
    return result.normalized.lower()
