"""Errors of the accounts and email building blocks.

Token errors are ``ValidationError``s on the ``token`` field: a bad, expired or used link
in a request body is the caller's input, so the HTTP layer answers 400 (docs/api.md).
"""

from __future__ import annotations

from webmagic_core.errors import ValidationError, WebMagicError


class InvalidToken(ValidationError):
    """The token is malformed, tampered with, for another purpose, or already used."""

    def __init__(self, detail: str = "the link is invalid or has already been used") -> None:
        super().__init__(detail, field="token")


class ExpiredToken(InvalidToken):
    """The token was genuine but is older than its purpose allows."""

    def __init__(self, detail: str = "the link has expired; ask for a new one") -> None:
        super().__init__(detail)


class MailDeliveryError(WebMagicError):
    """A message could not be handed over; ``transient`` says whether a retry may succeed."""

    def __init__(self, detail: str, *, transient: bool) -> None:
        super().__init__(detail)
        self.transient = transient


class EmailDataError(WebMagicError):
    """A template was given missing, unknown or malformed data (a programming error)."""
