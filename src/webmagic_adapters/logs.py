"""Logging setup shared by the server and workers: secrets stay out of log lines.

Email links carry single-use tokens in their query string (``/portal/reset-password?token=...``),
and an access log records every request line. ``RedactQueryValues`` blanks the values of
sensitive query parameters in the ``uvicorn.access`` records before they are formatted.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

SENSITIVE_PARAMETERS = ("token", "refresh_token", "access_token", "password", "code", "key", "secret")

_QUERY_VALUE = re.compile(r"(?P<key>[?&](?:" + "|".join(SENSITIVE_PARAMETERS) + r")=)[^&#\s]*", re.IGNORECASE)


def redact_url(text: str) -> str:
    """``/x?token=abc&y=1`` → ``/x?token=[redacted]&y=1``."""
    return _QUERY_VALUE.sub(r"\g<key>[redacted]", text)


class RedactQueryValues(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_url(record.msg)
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """Uvicorn's default logging configuration with the redacting filter on its access log."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query_values"] = {"()": f"{__name__}.RedactQueryValues"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_query_values")
    return config
