"""Money as integer cents plus an ISO 4217 currency code; never floats."""

from __future__ import annotations

import attrs

from webmagic_core.errors import ValidationError


def _check_currency(_: object, __: attrs.Attribute[str], value: str) -> None:
    if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise ValidationError(f"currency must be a three-letter ISO code such as USD, not {value!r}")


@attrs.frozen
class Money:
    amount_in_cents: int = attrs.field(validator=attrs.validators.instance_of(int))
    currency: str = attrs.field(validator=_check_currency)

    def __str__(self) -> str:
        sign = "-" if self.amount_in_cents < 0 else ""
        whole, cents = divmod(abs(self.amount_in_cents), 100)
        return f"{sign}{whole:,}.{cents:02d} {self.currency}"
