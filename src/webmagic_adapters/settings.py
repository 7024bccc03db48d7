"""Configuration from ``WEBMAGIC_*`` environment variables (and an optional ``.env`` file).

With nothing configured the app runs on the embedded defaults: a SQLite file and a
generated secret key in the local data folder, sandbox payments, mail written to files.
"""

from __future__ import annotations

import base64
import enum
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from webmagic_core.site_files import FileLimits

log = logging.getLogger(__name__)


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable, never its value."""


class Payments(enum.StrEnum):
    SANDBOX = "sandbox"
    RECURRENTE = "recurrente"


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

    page_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0, description="Rendered-page cache budget")
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.sites_domain is not None:
            self.sites_domain = self.sites_domain.strip().lower().rstrip(".") or None
            if self.sites_domain and ("/" in self.sites_domain or " " in self.sites_domain):
                raise ValueError("WEBMAGIC_SITES_DOMAIN must be a bare host name such as sites.example.com")
        if self.payments is Payments.RECURRENTE:
            for name in ("recurrente_public_key", "recurrente_secret_key", "recurrente_webhook_secret"):
                if getattr(self, name) is None:
                    raise ValueError(f"WEBMAGIC_{name.upper()} is required when WEBMAGIC_PAYMENTS=recurrente")
            secret = self.recurrente_webhook_secret
            if secret is not None and not secret.get_secret_value().startswith("whsec_"):
                raise ValueError("WEBMAGIC_RECURRENTE_WEBHOOK_SECRET must start with whsec_")
        return self

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

    def secret_key_value(self) -> str:
        """The configured secret key, or one generated once and kept in the data folder."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return self._local_secret("secret_key", lambda: secrets.token_urlsafe(48), "WEBMAGIC_SECRET_KEY")

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
        self.data_dir.mkdir(parents=True, exist_ok=True)
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
    """Read the settings, turning validation errors into one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        name = f"WEBMAGIC_{loc.upper()}" if loc else ""
        raise SettingsError(f"{name}: {message}" if name and name not in message else message) from None
