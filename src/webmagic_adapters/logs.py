"""Logging setup shared by the server and workers: secrets stay out of log lines.

Email links carry single-use tokens in their query string (``/portal/reset-password?token=...``),
and an access log records every request line. ``RedactQueryValues`` blanks the values of
sensitive query parameters in every record before it is formatted.

Two formats (``WEBMAGIC_LOG_FORMAT``): ``text``, uvicorn's lines for people, and ``json``,
one object per line for a log pipeline: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
``message``, and the structured fields a line was logged with (``extra={"event": ...,
"site": ...}``), so business events can be searched by id rather than parsed out of prose.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
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


# Attributes every LogRecord has; anything else on a record was passed in ``extra``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; extra fields kept, values that JSON cannot hold as text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def uvicorn_log_config(log_format: str = "text", level: str = "info") -> dict[str, Any]:
    """Uvicorn's logging configuration, the redacting filter on every handler, the app's own
    loggers (the root logger) on the same output at ``level``, in ``log_format``."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query_values"] = {"()": f"{__name__}.RedactQueryValues"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_query_values")
    if log_format == "json":
        for name in config["formatters"]:
            config["formatters"][name] = {"()": f"{__name__}.JsonFormatter"}
    config["root"] = {"handlers": ["default"], "level": level.upper()}
    # One line per outgoing request (provider, mail, LLM calls) is noise at INFO.
    for chatty in ("httpx", "httpcore"):
        config["loggers"][chatty] = {"level": "WARNING"}
    return config
