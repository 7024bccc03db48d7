"""Secrets in request lines never reach the logs."""

from __future__ import annotations

import logging
import logging.config

import pytest

from webmagic_adapters.logs import RedactQueryValues, redact_url, uvicorn_log_config


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/portal/verify-email?token=abc.def", "/portal/verify-email?token=[redacted]"),
        ("/x?a=1&token=abc&b=2", "/x?a=1&token=[redacted]&b=2"),
        ("/x?TOKEN=abc#frag", "/x?TOKEN=[redacted]#frag"),
        ("/x?refresh_token=r1&password=p", "/x?refresh_token=[redacted]&password=[redacted]"),
        ("/x?tokens=keep&mytoken=keep", "/x?tokens=keep&mytoken=keep"),
        ("/sunrise-bakery", "/sunrise-bakery"),
    ],
)
def test_sensitive_query_values_are_blanked(line: str, expected: str) -> None:
    assert redact_url(line) == expected


def test_filter_rewrites_access_log_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/portal/reset-password?token=s3cret", "1.1", 200),
        None,
    )
    assert RedactQueryValues().filter(record)
    assert "s3cret" not in record.getMessage()
    assert "token=[redacted]" in record.getMessage()


def test_every_uvicorn_handler_carries_the_filter() -> None:
    config = uvicorn_log_config()
    assert config["handlers"]
    for handler in config["handlers"].values():
        assert "redact_query_values" in handler["filters"]
    logging.config.dictConfig(config)  # the configuration is valid as given
