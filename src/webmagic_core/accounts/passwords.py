"""The password policy: 8 to 256 characters, checked as received, not a common password.

The password is never trimmed, normalised or truncated: what the user typed is what is
checked and what is hashed. The common-password list is handed in (the adapters ship and
load the file), so the policy stays pure.
"""

from __future__ import annotations

import attrs

from webmagic_core.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 256


@attrs.frozen
class PasswordPolicy:
    # Lower-case entries; a password is refused when its lower-cased, trimmed form is
    # listed, so "Password1" and " password1" are as weak as "password1".
    common_passwords: frozenset[str] = attrs.field(repr=lambda value: f"<{len(value)} passwords>")

    def check(self, password: str, *, field: str = "password") -> str:
        """Return ``password`` unchanged, or raise ``ValidationError`` naming the rule it breaks."""
        if len(password) < MIN_LENGTH:
            raise ValidationError(f"the password must be at least {MIN_LENGTH} characters long", field=field)
        if len(password) > MAX_LENGTH:
            raise ValidationError(f"the password must be at most {MAX_LENGTH} characters long", field=field)
        if any("\ud800" <= c <= "\udfff" for c in password):
            # Lone surrogates (possible in JSON "\ud800" escapes) are not text and cannot be UTF-8.
            raise ValidationError("the password contains characters that are not valid text", field=field)
        if password.strip().lower() in self.common_passwords:
            raise ValidationError(
                "this password is one of the most commonly used passwords; choose another", field=field
            )
        return password
