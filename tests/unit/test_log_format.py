"""WEBMAGIC_LOG_FORMAT: JSON lines with the structured fields, redacted like the text lines."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from webmagic_adapters.logs import JsonFormatter, uvicorn_log_config


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    name = "webmagic_core.services.purchases"
    record = logging.LogRecord(name, logging.INFO, "x.py", 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_json_line_holds_time_level_logger_message_and_the_extra_fields() -> None:
    record = _record("site %s sold", "casa-rosa", event="purchase.paid", site="casa-rosa")
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "info"
    assert entry["logger"] == "webmagic_core.services.purchases"
    assert entry["message"] == "site casa-rosa sold"
    assert (entry["event"], entry["site"]) == ("purchase.paid", "casa-rosa")
    assert entry["time"].endswith("+00:00")
    assert not {"args", "msg", "levelno"} & set(entry)


def test_exceptions_and_odd_values_do_not_break_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record("failed", when=object())
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exception"]
    assert entry["when"].startswith("<object")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_server_config_logs_the_apps_own_lines_redacted(log_format: str) -> None:
    config = uvicorn_log_config(log_format, "info")
    stream = io.StringIO()
    config["handlers"]["default"]["stream"] = stream
    config["handlers"]["access"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        logging.getLogger("webmagic_http.portal").info("opened /portal/reset-password?token=SeCrEt&x=1")
        logging.getLogger("httpx").info("HTTP Request: GET https://example.com")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/portal/verify-email?token=SeCrEt", "1.1", 200
        )
    finally:  # leave logging as the other tests expect it
        for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.setLevel(logging.WARNING if name == "" else logging.NOTSET)
            logger.propagate = True
    text = stream.getvalue()
    assert "SeCrEt" not in text
    assert text.count("[redacted]") == 2
    assert "example.com" not in text  # outgoing requests stay quiet at INFO
    lines = [line for line in text.splitlines() if line]
    if log_format == "json":
        assert all(json.loads(line)["message"] for line in lines)
    else:
        assert not any(line.startswith("{") for line in lines)
