from __future__ import annotations

import pytest

from webmagic_core.errors import ValidationError
from webmagic_core.money import Money


def test_money_formats_cents_without_floats() -> None:
    assert str(Money(49500, "USD")) == "495.00 USD"
    assert str(Money(-5, "GTQ")) == "-0.05 GTQ"
    assert str(Money(123456789, "USD")) == "1,234,567.89 USD"


@pytest.mark.parametrize("currency", ["usd", "US", "USDX", "U$D", "ÜSD"])
def test_currency_must_be_an_iso_code(currency: str) -> None:
    with pytest.raises(ValidationError, match="three-letter ISO code"):
        Money(100, currency)


def test_amount_must_be_integer_cents() -> None:
    with pytest.raises(TypeError):
        Money(4.95, "USD")  # type: ignore[arg-type]
