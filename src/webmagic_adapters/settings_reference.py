"""The configuration reference: every ``WEBMAGIC_*`` variable, its default and its meaning.

Generated from the settings model, so it cannot drift from what the code reads:
``webmagic config`` prints it with the current values (secrets masked), ``webmagic config
--markdown`` writes docs/configuration.md (a test checks the file is up to date). A field's
meaning is its ``description`` in the model, else the entry in ``MEANINGS``; a field with
neither fails that test.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from webmagic_adapters.settings import Settings

PREFIX = "WEBMAGIC_"

MEANINGS: dict[str, str] = {
    "data_dir": "Local data folder: the SQLite database, the generated secret key, mail written to files.",
    "database_url": "sqlite:///path/file.db or postgresql://user@host/db. Default: a SQLite file in the data "
    "folder.",
    "secret_key": "Key material for tokens, signed links and CSRF (32 bytes or more). Default: generated "
    "once and kept in the data folder.",
    "public_url": "Where people reach the API and pages; email links and checkout return addresses use it.",
    "sites_base_url": "Where hosted sites are reached, when not the public URL (a separate origin is "
    "recommended in production).",
    "sites_domain": "The host name that serves the sites (e.g. sites.example.com); custom domains point "
    "their CNAME at it.",
    "payments": "sandbox (simulated payments, the default) or recurrente (real payments).",
    "recurrente_public_key": "Recurrente public key (pk_live_... or pk_test_...); required for real "
    "payments.",
    "recurrente_secret_key": "Recurrente secret key (sk_...); required for real payments.",
    "recurrente_webhook_secret": "The whsec_... secret Recurrente signs webhooks with; required for real "
    "payments.",
    "recurrente_api_base": "Recurrente API base URL.",
    "smtp_url": "smtp://user:pass@host:587?starttls=true sends real mail; unset, mail is written as .eml "
    "files to the data folder.",
    "mail_from": "The From: of every email.",
    "admin_email": "Where anomalies and operator alerts are mailed.",
    "redis_url": "Redis for rate limits shared by several app instances (redis://host:6379/0).",
    "bcrypt_rounds": "bcrypt cost factor for passwords (12 is the safe default; lower only in tests).",
    "site_price_cents": "Price of a site, in cents.",
    "subscription_price_cents": "Monthly hosting price, in cents.",
    "currency": "ISO currency code of the prices.",
    "owned_hosting_days": "Days of hosting included with a purchase before the subscription is needed.",
    "dns_timeout_seconds": "How long a DNS lookup or a certificate probe of a custom domain may take.",
    "tls_probe_port": "The port certificates of custom domains are checked on (443 unless a test or a "
    "front listens elsewhere).",
    "log_level": "Log level of the server and workers (debug, info, warning, error).",
}


@attrs.frozen
class SettingDoc:
    variable: str
    default: str
    meaning: str
    secret: bool
    current: str | None = None


def _is_secret(annotation: Any) -> bool:
    return SecretStr in getattr(annotation, "__args__", ()) or annotation is SecretStr


def _shown(value: Any, *, secret: bool) -> str:
    if value is None:
        return "not set"
    if secret:
        return "set (hidden)"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Path):
        return value.as_posix()
    return _without_password(str(value))


def _without_password(text: str) -> str:
    """``scheme://user:pass@host`` → ``scheme://user:***@host`` (database and SMTP URLs)."""
    parts = urlsplit(text)
    if not parts.scheme or parts.password is None:
        return text
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def meaning_of(name: str) -> str | None:
    field = Settings.model_fields[name]
    return field.description or MEANINGS.get(name)


def reference(settings: Settings | None = None) -> list[SettingDoc]:
    """One entry per variable, in the model's order; with ``settings``, their current values."""
    rows = []
    for name, field in Settings.model_fields.items():
        secret = _is_secret(field.annotation)
        if field.default is not PydanticUndefined:
            default = _shown(field.default, secret=False)
        elif field.default_factory is not None:
            default = "(computed)"
        else:
            default = "(required)"
        current = None
        if settings is not None:
            current = _shown(getattr(settings, name), secret=secret)
        rows.append(
            SettingDoc(
                variable=PREFIX + name.upper(),
                default=default,
                meaning=meaning_of(name) or "",
                secret=secret,
                current=current,
            )
        )
    return rows


def markdown(rows: list[SettingDoc]) -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated by `webmagic config --markdown` from the settings model; do not edit by hand.",
        "Every setting is an environment variable (or a line of a `.env` file in the working",
        "folder). `webmagic config` prints the same table with the values in effect, secrets masked.",
        "",
        "| Variable | Default | Meaning |",
        "|---|---|---|",
    ]
    for row in rows:
        plain = row.default in ("not set", "(computed)", "(required)")
        default = row.default if plain else f"`{row.default}`"
        meaning = (row.meaning + (" *Secret.*" if row.secret else "")).replace("|", r"\|")
        lines.append(f"| `{row.variable}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


def env_example(rows: list[SettingDoc]) -> str:
    """A commented ``.env`` file naming every variable (all commented out: the defaults apply)."""
    lines = [
        "# WebMagic settings: copy to .env (kept out of version control) and uncomment what you set.",
        "# Generated by `webmagic config --env-example`; docs/configuration.md explains each one.",
        "",
    ]
    for row in rows:
        lines.append(f"# {row.meaning}")
        example = "" if row.secret or row.default in ("not set", "(computed)", "(required)") else row.default
        lines.append(f"# {row.variable}={example}")
        lines.append("")
    return "\n".join(lines)
