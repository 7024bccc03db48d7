"""Settings are all checked at start-up: every malformed value is reported at once, one
line each, naming its variable and never printing a secret; the secret key must be long
enough for real payments."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from typer.testing import Result

from webmagic_adapters.settings import SettingsError, load_settings

SECRET_BITS = ("hunter2", "sk_live_SECRETVALUE", "whsec_!!", "abc")
GOOD_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
REAL_PAYMENTS = {
    "payments": "recurrente",
    "recurrente_public_key": "pk_test_abc",
    "recurrente_secret_key": "sk_test_abc",
    "recurrente_webhook_secret": GOOD_WEBHOOK_SECRET,
    "secret_key": "s" * 32,
}


def problems(**settings: object) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load_settings(**settings)
    return str(info.value).splitlines()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("smtp_url", "smtp://user:hunter2@mail.example.com:99999", "invalid port"),
        ("smtp_url", "smtp://user:hunter2@mail.example.com?starttls=maybe", "true or false"),
        ("smtp_url", "http://mail.example.com", "smtp:// or smtps://"),
        ("recurrente_secret_key", "   ", "empty"),
        ("recurrente_public_key", "", "empty"),
        ("recurrente_webhook_secret", "whsec_!!not base64!!", "base64"),
        ("recurrente_webhook_secret", "not-whsec", "whsec_"),
        ("mail_from", "WebMagic no-reply", "address"),
        ("mail_from", "x <a@b.c>\r\nBcc: all@example.com", "address"),
        ("admin_email", "x", "email address"),
        ("secret_key", "", "empty"),
        ("secret_key", "   ", "empty"),
        ("secret_key_previous", "", "empty"),
        ("redis_url", "http://cache:6379", "redis://"),
        ("database_url", "mongodb://x/y", "unsupported database"),
        ("log_level", "loud", "one of"),
        ("bcrypt_rounds", "many", "integer"),
        ("sites_domain", "https://sites.example.com/", "bare host name"),
    ],
)
def test_a_malformed_setting_is_one_line_naming_its_variable(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    [line] = problems(data_dir=tmp_path, **{name: value})
    assert line.startswith(f"WEBMAGIC_{name.upper()}")
    assert says in line
    for secret in SECRET_BITS:
        assert secret not in line


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    lines = problems(
        data_dir=tmp_path,
        payments="recurrente",
        recurrente_secret_key="  ",
        recurrente_webhook_secret="whsec_!!",
        smtp_url="smtp://u:hunter2@mail.example.com:99999",
        mail_from="bad",
        admin_email="x",
        secret_key="abc",
    )
    named = sorted(line.split(":")[0].split(" ")[0] for line in lines)
    assert named == sorted(
        [
            "WEBMAGIC_RECURRENTE_SECRET_KEY",
            "WEBMAGIC_RECURRENTE_WEBHOOK_SECRET",
            "WEBMAGIC_SMTP_URL",
            "WEBMAGIC_MAIL_FROM",
            "WEBMAGIC_ADMIN_EMAIL",
            "WEBMAGIC_RECURRENTE_PUBLIC_KEY",  # required with real payments
            "WEBMAGIC_SECRET_KEY",  # too short for real payments
        ]
    )
    for line in lines:
        for secret in SECRET_BITS:
            assert secret not in line


@pytest.mark.parametrize("name", ["secret_key", "secret_key_previous"])
def test_real_payments_need_32_bytes_of_key_material(tmp_path: Path, name: str) -> None:
    [line] = problems(data_dir=tmp_path, **{**REAL_PAYMENTS, name: "x" * 31})
    assert line.startswith(f"WEBMAGIC_{name.upper()}: 31 bytes long; it must be at least 32")
    assert "x" * 31 not in line
    load_settings(data_dir=tmp_path, **{**REAL_PAYMENTS, name: "x" * 32})
    load_settings(data_dir=tmp_path, **{**REAL_PAYMENTS, name: "é" * 16})  # 32 bytes of UTF-8


def test_a_short_key_with_sandbox_payments_is_accepted_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="webmagic_adapters.settings"):
        settings = load_settings(data_dir=tmp_path, secret_key="short-key")
    assert settings.secret_key_value() == "short-key"
    assert "WEBMAGIC_SECRET_KEY: 9 bytes long" in caplog.text
    assert "short-key" not in caplog.text


def test_the_generated_secret_key_is_32_random_bytes(tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path / "a").secret_key_value()
    second = load_settings(data_dir=tmp_path / "b").secret_key_value()
    assert len(base64.urlsafe_b64decode(first + "=")) == 32
    assert first != second
    assert load_settings(data_dir=tmp_path / "a").secret_key_value() == first  # kept


def test_good_settings_pass(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        smtp_url="smtps://user:pass@mail.example.com:465",
        mail_from="Shop <no-reply@example.com>",
        admin_email=" ops@example.com ",
        redis_url="redis://127.0.0.1:6379/0",
        log_level="debug",
        **REAL_PAYMENTS,
    )
    assert settings.admin_email == "ops@example.com"
    assert settings.log_level == "DEBUG"


def test_the_cli_prints_one_line_per_problem_and_no_traceback(
    invoke: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBMAGIC_SMTP_URL", "smtp://u:hunter2@mail.example.com?starttls=maybe")
    monkeypatch.setenv("WEBMAGIC_ADMIN_EMAIL", "x")
    result: Result = invoke("sites", "list")  # type: ignore[operator]

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert sorted(lines) == [
        "Error: configuration: WEBMAGIC_ADMIN_EMAIL: must be an email address such as ops@example.com",
        "Error: configuration: WEBMAGIC_SMTP_URL: starttls in the SMTP URL must be true or false",
    ]
    assert "hunter2" not in result.output
