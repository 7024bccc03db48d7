"""Money as people read it, in one format everywhere (pages, banner, emails, CLI tables):
Babel's, for the English locale: ``$495.00``, ``$95.00 per month``, ``GTQ 495.00``.

The core keeps amounts as integer cents (``webmagic_core.money.Money``); its ``str`` is the
unambiguous ``495.00 USD`` kept for records and logs.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency

from webmagic_core.money import Money

LOCALE = "en_US"


@lru_cache(maxsize=1024)
def format_money(value: Money) -> str:
    # Cached: Babel takes tens of microseconds per amount, and a page shows the same few
    # amounts over and over (a table of monthly payments).
    text = format_currency(Decimal(value.amount_in_cents).scaleb(-2), value.currency, locale=LOCALE)
    # A currency shown by its code gets a space before the number (CLDR's currency spacing,
    # which Babel leaves out): "GTQ 3,800.00", not "GTQ3,800.00".
    return re.sub(rf"(?<={value.currency})(?=\d)", " ", text)


def format_monthly(value: Money) -> str:
    return f"{format_money(value)} per month"
