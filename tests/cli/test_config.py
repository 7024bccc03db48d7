"""``webmagic config``: the reference generated from the settings model, secrets masked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from webmagic_adapters.settings import Settings
from webmagic_adapters.settings_reference import env_example, markdown, meaning_of, reference

Invoke = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_says_what_it_means(name: str) -> None:
    assert (meaning_of(name) or "").strip(), f"WEBMAGIC_{name.upper()} has no meaning: add one"


def test_the_configuration_doc_is_up_to_date() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8") == markdown(reference()), (
        "docs/configuration.md is stale: run `webmagic config --markdown > docs/configuration.md`"
    )


def test_the_env_example_is_up_to_date() -> None:
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == env_example(reference()), (
        ".env.example is stale: run `webmagic config --env-example > .env.example`"
    )


def test_every_variable_is_listed_with_its_value_and_secrets_are_masked(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBMAGIC_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("WEBMAGIC_SMTP_URL", "smtp://mailer:SmtpPa55@mail.example.com:587")
    monkeypatch.setenv("WEBMAGIC_DATABASE_URL", "postgresql://app:DbPa55@db.example.com/webmagic")
    monkeypatch.setenv("WEBMAGIC_OWNED_HOSTING_DAYS", "14")

    result = invoke("config", "--json")

    assert result.exit_code == 0, result.output
    rows = {row["variable"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {f"WEBMAGIC_{name.upper()}" for name in Settings.model_fields}
    assert rows["WEBMAGIC_SECRET_KEY"]["value"] == "set (hidden)"
    assert rows["WEBMAGIC_SMTP_URL"]["value"] == "set (hidden)"
    assert rows["WEBMAGIC_DATABASE_URL"]["value"] == "postgresql://app:***@db.example.com/webmagic"
    assert rows["WEBMAGIC_OWNED_HOSTING_DAYS"] == {
        "variable": "WEBMAGIC_OWNED_HOSTING_DAYS",
        "value": "14",
        "default": "30",
        "secret": False,
        "meaning": meaning_of("owned_hosting_days"),
    }
    table = invoke("config")
    assert table.exit_code == 0
    for leaked in ("k" * 40, "SmtpPa55", "DbPa55"):
        assert leaked not in result.stdout
        assert leaked not in table.stdout
