"""Configuration from ``WEBMAGIC_*`` environment variables (and an optional ``.env`` file).

With nothing configured the app runs on the embedded defaults: a SQLite file and a
generated secret key in the local data folder, sandbox payments, mail written to files.
"""

from __future__ import annotations

import base64
import email.utils
import enum
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from webmagic_adapters.dns_resolver import parse_nameservers
from webmagic_adapters.keys import MIN_SECRET_BYTES, Keyring, key_material_bytes
from webmagic_adapters.mail.smtp import SmtpMailer
from webmagic_adapters.private_files import PRIVATE_FILE, private_dir, private_tree
from webmagic_adapters.sqlalchemy.database import normalize_url
from webmagic_core.site_files import FileLimits

log = logging.getLogger(__name__)


# The secrets generated once and kept in the data folder (see ``Settings._local_secret``).
LOCAL_SECRETS = ("secret_key", "sandbox_webhook_secret")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable, never its value."""


class Payments(enum.StrEnum):
    SANDBOX = "sandbox"
    RECURRENTE = "recurrente"


class EditEngineName(enum.StrEnum):
    MANUAL = "manual"
    OPENAI = "openai"


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host name")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WEBMAGIC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default=Path("webmagic-data"), description="Local data folder (SQLite, key, mail)")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    secret_key_previous: SecretStr | None = Field(
        default=None, description="The key being rotated out: still verifies, never signs"
    )
    public_url: HttpUrl = "http://127.0.0.1:8000"
    sites_base_url: HttpUrl | None = None
    sites_domain: str | None = None

    payments: Payments = Payments.SANDBOX
    recurrente_public_key: SecretStr | None = None
    recurrente_secret_key: SecretStr | None = None
    recurrente_webhook_secret: SecretStr | None = None
    recurrente_api_base: HttpUrl = "https://app.recurrente.com/api"

    smtp_url: SecretStr | None = None
    mail_from: str = "WebMagic <no-reply@webmagic.local>"
    admin_email: str | None = None
    redis_url: SecretStr | None = None
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60, description="Access-token (JWT) lifetime")
    outbox_interval_seconds: float = Field(
        default=5, ge=0, allow_inf_nan=False, description="In-process outbox relay period; 0 disables it"
    )
    sweep_interval_seconds: float = Field(
        default=300, ge=0, allow_inf_nan=False, description="In-process lifecycle sweep period; 0 disables it"
    )

    site_price_cents: int = Field(default=49500, gt=0)
    subscription_price_cents: int = Field(default=9500, gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    owned_hosting_days: int = Field(default=30, ge=0)

    max_file_bytes: int = Field(default=5 * 1024 * 1024, gt=0, description="Largest file of a site version")
    max_version_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="Largest site version, all files"
    )
    max_version_files: int = Field(default=500, gt=0, description="Most files in one site version")

    publish_dir: Path | None = Field(
        default=None,
        description="Static publishing: write what each site serves as files here, for nginx or Caddy "
        "to serve (`webmagic publish nginx-config`); unset: no static publishing",
    )
    publish_interval_seconds: float = Field(
        default=0.5,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="How often the in-process publishing worker looks for changes made by other "
        "processes (its own process's wake it at once); 0 disables it (`webmagic outbox relay` publishes)",
    )

    page_cache_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Rendered-page cache budget in bytes; not set: 32 MB on SQLite, 8 MB on PostgreSQL "
        "(where every site's head is held in memory and pages are also kept on local disk)",
    )
    page_body_cache_bytes: int = Field(
        default=4 * 1024 * 1024 * 1024,
        ge=0,
        description="Budget of the local disk copy of the pages hosting serves (read once from the "
        "database, then from disk); 0: none",
    )
    page_body_dir: Path | None = Field(
        default=None, description="Where that copy is kept; unset: page-bodies in the data folder"
    )

    # Custom domains (phase 5).
    dns_nameservers: str | None = Field(
        default=None, description="ip[:port],... answering the TXT lookups; unset: the system resolver"
    )
    dns_timeout_seconds: float = Field(default=5, gt=0, le=60, allow_inf_nan=False)
    domain_grace_hours: int = Field(default=168, ge=0, description="A failing domain lapses after this")
    domain_check_interval_seconds: float = Field(
        default=3600,
        ge=0,
        allow_inf_nan=False,
        description="In-process domain re-verification period; 0 disables it",
    )
    tls_probe_port: int = Field(default=443, gt=0, lt=65536)
    login_address_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Days the client address of a customer's last login is kept (customers show)",
    )
    # Edits (phase 4).
    edit_engine: EditEngineName = Field(
        default=EditEngineName.MANUAL,
        description="Who drafts owners' edits: manual (operators, `webmagic edits draft`) or openai "
        "(any OpenAI-compatible chat-completions server)",
    )
    llm_base_url: HttpUrl = Field(
        default="https://api.openai.com/v1",
        description="The chat-completions server of the openai engine (OpenAI, vLLM, Ollama, LiteLLM...)",
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="Bearer key for WEBMAGIC_LLM_BASE_URL (required with the openai engine)"
    )
    llm_model: str = Field(
        default="gpt-4o-mini", min_length=1, description="The model the openai engine asks for"
    )
    llm_timeout_seconds: float = Field(
        default=20, gt=0, le=300, allow_inf_nan=False, description="Timeout of each chat-completions call"
    )
    edits_per_month: int = Field(
        default=10,
        ge=0,
        description="Edit requests per site per calendar month (UTC); failed ones do not count",
    )
    edit_worker_interval_seconds: float = Field(
        default=5,
        ge=0,
        allow_inf_nan=False,
        description="How often the in-process edit worker looks for pending edits; 0 disables it",
    )
    log_level: str = "INFO"
    log_format: LogFormat = Field(
        default=LogFormat.TEXT, description="text: lines for people; json: one JSON object per line"
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for /metrics; unset: only direct requests from loopback may read it",
    )

    # Each field is checked on its own (pydantic reports every failing field), the rules
    # that tie fields together in ``_check_all``; all problems are reported at once.

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None:
            normalize_url(value)  # DatabaseUrlError is a ValueError naming the problem
        return value

    @field_validator("secret_key", "secret_key_previous")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty; leave it unset to use a generated key")
        return value

    @field_validator("sites_domain")
    @classmethod
    def _sites_domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        domain = value.strip().lower().rstrip(".") or None
        if domain and ("/" in domain or " " in domain):
            raise ValueError("must be a bare host name such as sites.example.com")
        return domain

    @field_validator("recurrente_public_key", "recurrente_secret_key")
    @classmethod
    def _recurrente_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _API_KEY.fullmatch(value.get_secret_value()):
            raise ValueError("is empty or holds spaces or characters other than printable ASCII")
        return value

    @field_validator("recurrente_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if not secret.startswith("whsec_"):
            raise ValueError("must start with whsec_")
        try:
            decoded = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError:
            raise ValueError("must be whsec_ followed by base64 (as the provider shows it)") from None
        if not decoded:
            raise ValueError("holds no key after whsec_")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            # SmtpUrlError (a ValueError) names the part that is wrong, never the password.
            SmtpMailer.from_url(value.get_secret_value(), sender="check <check@example.com>")
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        address = email.utils.parseaddr(value)[1]
        if any(c in value for c in "\r\n") or not _looks_like_email(address):
            raise ValueError(
                "must be an address such as no-reply@example.com or 'Name <no-reply@example.com>'"
            )
        return value

    @field_validator("admin_email")
    @classmethod
    def _admin_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _looks_like_email(value.strip()):
            raise ValueError("must be an email address such as ops@example.com")
        return value.strip()

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value().strip())
            if parts.scheme not in ("redis", "rediss", "unix"):
                raise ValueError("must be a redis://, rediss:// or unix:// URL")
            try:
                parts.port  # noqa: B018 - parsing it is the check
            except ValueError:
                raise ValueError("has an invalid port") from None
            if parts.scheme != "unix" and not parts.hostname:
                raise ValueError("has no host name")
        return value

    @field_validator("dns_nameservers")
    @classmethod
    def _dns_nameservers(cls, value: str | None) -> str | None:
        if value is not None:
            parse_nameservers(value)  # a ValueError naming the bad entry
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return level

    @model_validator(mode="wrap")
    @classmethod
    def _check_all(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """Every problem at once, one line each: the fields' own, then the rules tying
        them together. Raises ``SettingsError`` (not a pydantic error) with those lines."""
        problems = _combination_problems(data) if isinstance(data, Mapping) else []
        try:
            settings = handler(data)
        except ValidationError as error:
            raise SettingsError("\n".join([*_field_problems(error), *problems])) from None
        if problems:
            raise SettingsError("\n".join(problems))
        settings._warn_about_weak_keys()
        return settings

    def _warn_about_weak_keys(self) -> None:
        for name in ("secret_key", "secret_key_previous"):
            value: SecretStr | None = getattr(self, name)
            if value is not None and key_material_bytes(value.get_secret_value()) < MIN_SECRET_BYTES:
                log.warning("%s (accepted with sandbox payments only)", _short_key(name, value))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'webmagic.db').as_posix()}"

    @property
    def resolved_sites_base_url(self) -> str:
        if self.sites_base_url:
            return self.sites_base_url
        if self.sites_domain:
            scheme = urlsplit(self.public_url).scheme
            return f"{scheme}://{self.sites_domain}"
        return self.public_url

    @property
    def sites_host(self) -> str | None:
        """The host name sites are served on when it is not the public URL's: the app then
        serves sites only there and everything else only on the other host names."""
        if self.sites_domain:
            return self.sites_domain
        if self.sites_base_url:
            host = (urlsplit(self.sites_base_url).hostname or "").rstrip(".")
            if host and host != (urlsplit(self.public_url).hostname or "").rstrip("."):
                return host
        return None

    @property
    def file_limits(self) -> FileLimits:
        return FileLimits(
            max_file_bytes=self.max_file_bytes,
            max_version_bytes=self.max_version_bytes,
            max_files=self.max_version_files,
        )

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def page_cache_budget(self) -> int:
        """The page cache's size: as set, or by database. On SQLite a miss reads the page
        from the database file; on PostgreSQL from the local disk copy, while the heads of
        every site take the memory a larger cache would."""
        if self.page_cache_bytes is not None:
            return self.page_cache_bytes
        sqlite = self.resolved_database_url.startswith("sqlite")
        return (32 if sqlite else 8) * 1024 * 1024

    @property
    def page_bodies_dir(self) -> Path:
        return self.page_body_dir or self.data_dir / "page-bodies"

    @property
    def uses_data_dir(self) -> bool:
        """Whether anything is kept in the data folder (the embedded defaults are)."""
        return (
            self.database_url is None
            or self.smtp_url is None
            or self.secret_key is None
            or self.payments is Payments.SANDBOX
        )

    def secure_data_dir(self) -> None:
        """Create the data folder owner-only (0700) when it is used, and make the files the
        app keeps there 0600 and its mail folder 0700, a folder of an earlier version
        included. Only what the app made is touched: the data folder may be any folder.
        (The database file is the ``Database``'s business: it may live anywhere.)"""
        if not (self.uses_data_dir or self.data_dir.exists()):
            return
        private_dir(self.data_dir)
        for name in LOCAL_SECRETS:
            secret = self.data_dir / name
            if secret.is_file() and not secret.is_symlink():
                os.chmod(secret, PRIVATE_FILE)
        if self.mail_dir.is_dir() and not self.mail_dir.is_symlink():
            private_tree(self.mail_dir)

    def secret_key_value(self) -> str:
        """The configured secret key, or one generated once and kept in the data folder."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return self._local_secret(
            "secret_key", lambda: secrets.token_urlsafe(MIN_SECRET_BYTES), "WEBMAGIC_SECRET_KEY"
        )

    def keyring(self) -> Keyring:
        """The keys of every purpose, derived from the secret key (and the previous one)."""
        previous = self.secret_key_previous
        return Keyring(self.secret_key_value(), previous.get_secret_value() if previous else None)

    def webhook_secret_value(self) -> str:
        """The provider's webhook secret; with sandbox payments, one generated and kept locally
        (the sandbox signs the webhooks it delivers with it)."""
        if self.payments is Payments.RECURRENTE and self.recurrente_webhook_secret is not None:
            return self.recurrente_webhook_secret.get_secret_value()
        return self._local_secret(
            "sandbox_webhook_secret",
            lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii"),
            None,
        )

    def _local_secret(self, name: str, make: Callable[[], str], variable: str | None) -> str:
        path = self.data_dir / name
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        private_dir(self.data_dir)
        value = make()
        # Written under a temporary name with owner-only permissions, then linked into place:
        # a second process starting at the same moment keeps whichever value won.
        temporary = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
        finally:
            temporary.unlink()
        if variable:
            log.warning("%s is not set: generated one and kept it in %s", variable, path)
        return value


def load_settings(**overrides: Any) -> Settings:
    """Read the settings. Every problem is reported at once in one ``SettingsError``, one
    line each, naming the variable and never its value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:  # raised outside the model's own checks (a settings source)
        raise SettingsError("\n".join(_field_problems(exc))) from None


_API_KEY = re.compile(r"[\x21-\x7e]+")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_PAYMENT_KEYS = ("recurrente_public_key", "recurrente_secret_key", "recurrente_webhook_secret")


def _looks_like_email(value: str) -> bool:
    return bool(_EMAIL.fullmatch(value))


def _variable(field: str) -> str:
    return f"WEBMAGIC_{field.upper()}"


def _field_problems(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        loc = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        name = _variable(loc) if loc else ""
        lines.append(f"{name}: {message}" if name and name not in message else message)
    return lines


def _short_key(name: str, value: SecretStr) -> str:
    size = key_material_bytes(value.get_secret_value())
    return (
        f"{_variable(name)}: {size} bytes long; it must be at least {MIN_SECRET_BYTES} "
        "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )


def _combination_problems(data: Mapping[str, Any]) -> list[str]:
    """The rules that tie settings together, checked on the raw values (so they are
    reported along with any field's own problem)."""

    def raw(name: str) -> str | None:
        value = data.get(name)
        if value is None:
            return None
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    problems = []
    engine = (raw("edit_engine") or "").strip().lower()
    if engine == EditEngineName.OPENAI.value and not raw("llm_api_key"):
        problems.append(f"{_variable('llm_api_key')} is required when WEBMAGIC_EDIT_ENGINE=openai")
    payments = (raw("payments") or "").strip().lower()
    if payments != Payments.RECURRENTE.value:
        return problems
    problems += [
        f"{_variable(name)} is required when WEBMAGIC_PAYMENTS=recurrente"
        for name in _PAYMENT_KEYS
        if raw(name) is None
    ]
    for name in ("secret_key", "secret_key_previous"):
        value = raw(name)
        if value and value.strip() and key_material_bytes(value) < MIN_SECRET_BYTES:
            problems.append(f"{_short_key(name, SecretStr(value))}; required with real payments")
    return problems
