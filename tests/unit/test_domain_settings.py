"""The custom-domain settings: safe defaults pinned, bad values named."""

from __future__ import annotations

import pytest

from webmagic_adapters.settings import SettingsError, load_settings


def test_defaults() -> None:
    settings = load_settings(database_url="sqlite://")
    assert settings.domain_grace_hours == 168
    assert settings.tls_probe_port == 443
    assert settings.dns_nameservers is None  # the system resolver
    assert settings.domain_check_interval_seconds == 3600


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"dns_nameservers": "ns1.example.com"}, "WEBMAGIC_DNS_NAMESERVERS"),
        ({"dns_nameservers": "10.0.0.1:99999"}, "WEBMAGIC_DNS_NAMESERVERS"),
        ({"domain_grace_hours": -1}, "WEBMAGIC_DOMAIN_GRACE_HOURS"),
        ({"tls_probe_port": 0}, "WEBMAGIC_TLS_PROBE_PORT"),
    ],
)
def test_bad_values_name_the_variable(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(database_url="sqlite://", **overrides)
