"""Typed errors raised by the core; adapters map them to HTTP or CLI output."""

from __future__ import annotations


class WebMagicError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(WebMagicError):
    """The thing asked for does not exist (or must look as if it did not)."""


class Conflict(WebMagicError):
    """The request clashes with the current state (a taken slug, a sold site...)."""


class InvalidTransition(Conflict):
    """The lifecycle table forbids this change of state."""


class PermissionDenied(WebMagicError):
    """The caller may not do this."""


class ValidationError(WebMagicError):
    """Input breaks a rule; ``field`` names the offending field when there is one."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class TransientError(WebMagicError):
    """A fault that may pass on retry (database busy, provider unreachable)."""


class Unauthenticated(WebMagicError):
    """Credentials or a token are missing, wrong, expired or revoked."""


class Throttled(WebMagicError):
    """Too many attempts; ``retry_after`` says when to try again (seconds)."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)
