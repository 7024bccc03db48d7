"""The real clock (the ``Clock`` port's production implementation needs only the stdlib)."""

from __future__ import annotations

import datetime as dt


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)
