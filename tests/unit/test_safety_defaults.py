"""Every production default that matters for safety, pinned in one place.

Tests elsewhere inject explicit values (a low bcrypt cost, a short lease, a tiny sweep
interval) to run fast; this file checks what a deployment gets when it sets nothing, as the
application is really assembled. Changing one of these numbers is a decision: make it here.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from webmagic_adapters.bootstrap import Container, bootstrap, build_mailer
from webmagic_adapters.mail.smtp import SmtpMailer
from webmagic_adapters.passwords import BcryptPasswordHasher
from webmagic_adapters.payments.svix import DEFAULT_TOLERANCE
from webmagic_adapters.ratelimit import DEFAULT_SWEEP_EVERY
from webmagic_adapters.settings import Settings, SettingsError, load_settings
from webmagic_core.accounts.customers import REFRESH_TOKEN_LIFETIME
from webmagic_core.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from webmagic_core.accounts.tokens import TokenPurpose
from webmagic_core.outbox import DEFAULT_MAX_ATTEMPTS, RETRY_WINDOW, backoff
from webmagic_core.services.accounts import Limit, ThrottleLimits
from webmagic_core.services.purchases import PurchaseLimits
from webmagic_core.testing import FakeClock

MINUTE, HOUR, DAY = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No WEBMAGIC_* variable and no .env: only the built-in defaults."""
    for name in list(os.environ):
        if name.startswith("WEBMAGIC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def container(clean_env: Path) -> Iterator[Container]:
    built = bootstrap(load_settings(data_dir=clean_env / "data"), clock=FakeClock())
    yield built
    built.close()


def test_settings_defaults(clean_env: Path) -> None:
    settings = Settings()
    assert settings.bcrypt_rounds == 12
    assert settings.access_token_minutes == 15
    assert settings.edits_per_month == 10  # WEBMAGIC_EDITS_PER_MONTH
    assert settings.outbox_interval_seconds == 5
    assert settings.sweep_interval_seconds == 300
    assert settings.domain_grace_hours == 168
    assert settings.domain_check_interval_seconds == 3600
    assert settings.login_address_retention_days == 90
    assert settings.dns_timeout_seconds == 5
    assert settings.llm_timeout_seconds == 20
    assert settings.owned_hosting_days == 30
    assert settings.redis_url is None  # one instance: the in-memory limiter
    assert settings.payments.value == "sandbox"


def test_the_environment_names_the_safety_settings(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBMAGIC_EDITS_PER_MONTH", "3")
    monkeypatch.setenv("WEBMAGIC_BCRYPT_ROUNDS", "13")
    settings = Settings()
    assert (settings.edits_per_month, settings.bcrypt_rounds) == (3, 13)


@pytest.mark.parametrize("rounds", [3, 32])
def test_a_bcrypt_cost_out_of_range_is_refused(clean_env: Path, rounds: int) -> None:
    with pytest.raises(SettingsError, match="WEBMAGIC_BCRYPT_ROUNDS"):
        load_settings(bcrypt_rounds=rounds)


def test_the_assembled_application_hashes_at_cost_12(container: Container) -> None:
    assert container.hasher == BcryptPasswordHasher(12)
    assert BcryptPasswordHasher().rounds == 12
    assert container.hasher.hash("correct horse battery").startswith("$2b$12$")


def test_the_outbox_relay_defaults(container: Container) -> None:
    relay = container.relay
    assert (relay.max_attempts, DEFAULT_MAX_ATTEMPTS) == (8, 8)
    assert relay.retry_window == RETRY_WINDOW == 48 * HOUR
    assert relay.lease == 5 * MINUTE


def test_the_relay_lease_outlasts_a_whole_smtp_send(clean_env: Path) -> None:
    # A message is claimed for the lease; were the lease shorter than one SMTP session could
    # take (each step may wait the timeout), a second relay would claim it and send it twice.
    mailer = build_mailer(load_settings(data_dir=clean_env, smtp_url="smtp://mail.example.com:25"))
    assert isinstance(mailer, SmtpMailer)
    assert mailer.timeout == 10.0
    smtp_steps = 10  # connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA, body, QUIT
    assert dt.timedelta(seconds=mailer.timeout * smtp_steps) < 5 * MINUTE


def test_a_transient_failure_is_retried_for_two_days_before_it_is_dead() -> None:
    # Eight attempts with the base backoff do not reach the window: the window decides.
    waited = sum((backoff(n, rng=_NoJitter()) for n in range(1, DEFAULT_MAX_ATTEMPTS)), dt.timedelta())
    assert waited < RETRY_WINDOW


class _NoJitter:
    def uniform(self, low: float, high: float) -> float:
        return high


def test_token_lifetimes(container: Container) -> None:
    assert TokenPurpose.VERIFY_EMAIL.max_age == 48 * HOUR
    assert TokenPurpose.RESET_PASSWORD.max_age == HOUR
    assert TokenPurpose.SET_PASSWORD.max_age == 7 * DAY
    assert TokenPurpose.EDIT_PREVIEW.max_age == 7 * DAY
    assert REFRESH_TOKEN_LIFETIME == 30 * DAY
    assert container.settings.access_token_minutes == 15


def test_password_policy_bounds() -> None:
    assert (MIN_LENGTH, MAX_LENGTH) == (8, 256)


def test_the_assembled_application_throttles_with_the_default_limits(container: Container) -> None:
    assert container.accounts.limits == ThrottleLimits()
    assert ThrottleLimits().login_per_client_account == Limit(5, 15 * MINUTE)
    assert container.purchases.config.limits == PurchaseLimits()
    assert PurchaseLimits().per_email == Limit(5, HOUR)


def test_the_assembled_memory_limiter_sweeps_every_1024_calls(container: Container) -> None:
    storage = container.rate_limiter.storage  # type: ignore[attr-defined]
    assert storage.sweep_every == DEFAULT_SWEEP_EVERY == 1024


def test_webhooks_older_than_five_minutes_are_refused() -> None:
    assert DEFAULT_TOLERANCE == 5 * MINUTE
