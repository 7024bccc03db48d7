"""Money as people read it: one format (Babel's, English) on every page, mail and table."""

from __future__ import annotations

import pytest

from webmagic_adapters.money_format import format_money, format_monthly
from webmagic_core.money import Money


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(49500, "USD"), "$495.00"),
        (Money(9500, "USD"), "$95.00"),
        (Money(19950, "USD"), "$199.50"),
        (Money(123456789, "USD"), "$1,234,567.89"),
        (Money(0, "USD"), "$0.00"),
        (Money(-500, "USD"), "-$5.00"),
        (Money(380000, "GTQ"), "GTQ 3,800.00"),
        (Money(12345, "EUR"), "€123.45"),
    ],
)
def test_amounts(money: Money, text: str) -> None:
    assert format_money(money) == text


def test_monthly_amounts() -> None:
    assert format_monthly(Money(9500, "USD")) == "$95.00 per month"
