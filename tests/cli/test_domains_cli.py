"""``webmagic domains list|show|check`` against a DNS server the test starts on loopback
(``WEBMAGIC_DNS_NAMESERVERS``), on the test's database."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from cli_payments_support import Shop

from dns_support import Zone, running_dns_server
from webmagic_core.domains.model import DomainStatus

NAME = "shop.example"
CHALLENGE = "_webmagic-challenge.shop.example"


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Zone]:
    """A running DNS server the commands (and the shop's services) ask; set before ``shop``."""
    served = Zone(txt={}, names=set(), servfail=set(), timeout=set())
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        probe_port = closed.getsockname()[1]
    with running_dns_server(served) as port:
        monkeypatch.setenv("WEBMAGIC_DNS_NAMESERVERS", f"127.0.0.1:{port}")
        monkeypatch.setenv("WEBMAGIC_DNS_TIMEOUT_SECONDS", "1")
        monkeypatch.setenv("WEBMAGIC_TLS_PROBE_PORT", str(probe_port))
        yield served


@pytest.fixture
def verified(zone: Zone, shop: Shop) -> str:
    """casa-rosa bought, with shop.example attached and verified; returns its token."""
    shop.buy()
    site = shop.container.sites.details("casa-rosa").site
    assert site.owner_id is not None
    domain = shop.container.domains.attach(site.owner_id, "casa-rosa", NAME)
    zone.txt[CHALLENGE] = [[domain.token]]
    assert shop.container.domains.verify(site.owner_id, "casa-rosa").status is DomainStatus.VERIFIED
    return domain.token


def test_list_json(invoke: object, verified: str) -> None:
    result = invoke("domains", "list", "--json")  # type: ignore[operator]
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["domain"] == NAME
    assert row["site"] == "casa-rosa"
    assert row["status"] == "verified"
    assert row["dns_records"][0] == {"type": "TXT", "name": CHALLENGE, "value": verified}


def test_list_table_and_empty(invoke: object, zone: Zone, shop: Shop) -> None:
    result = invoke("domains", "list")  # type: ignore[operator]
    assert result.exit_code == 0
    assert "No custom domains yet." in result.stdout


def test_show_prints_records_and_history(invoke: object, verified: str) -> None:
    result = invoke("domains", "show", "SHOP.example.")  # type: ignore[operator]
    assert result.exit_code == 0, result.output
    assert verified in result.stdout
    assert CHALLENGE in result.stdout
    assert "attached" in result.stdout
    assert "verified" in result.stdout
    assert "checked" in result.stdout


def test_show_of_an_unknown_domain_is_one_line_and_exit_1(invoke: object, zone: Zone, shop: Shop) -> None:
    result = invoke("domains", "show", "nowhere.example")  # type: ignore[operator]
    assert result.exit_code == 1
    assert "nowhere.example" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_moves_a_lost_record_to_failing_then_lapsed(
    invoke: object, verified: str, zone: Zone, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = invoke("domains", "check", "--json")  # type: ignore[operator]
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["verified"] == 1
    assert json.loads(ok.stdout)["certificates"] == {"unknown": 1}  # nothing listens on the probe port

    del zone.txt[CHALLENGE]
    monkeypatch.setenv("WEBMAGIC_DOMAIN_GRACE_HOURS", "0")
    failing = invoke("domains", "check")  # type: ignore[operator]
    assert failing.exit_code == 0, failing.output
    assert "1 domain checked: 0 verified, 1 failing, 0 lapsed" in failing.stdout

    lapsed = invoke("domains", "check", "--domain", NAME, "--json")  # type: ignore[operator]
    assert json.loads(lapsed.stdout)["lapsed"] == 1
    shown = json.loads(invoke("domains", "show", NAME, "--json").stdout)  # type: ignore[operator]
    assert shown["status"] == "lapsed"
    assert [h["kind"] for h in shown["history"]][-2:] == ["checked", "lapsed"]
    assert "No DNS record named" in shown["detail"]
    timeline = invoke("sites", "show", "casa-rosa")  # type: ignore[operator]
    assert "domain shop.example: lapsed" in timeline.stdout


def test_remove_frees_the_name_and_keeps_the_history(invoke: object, verified: str, shop: Shop) -> None:
    result = invoke("domains", "remove", "Shop.Example.")  # type: ignore[operator]
    assert result.exit_code == 0, result.output
    assert "Removed shop.example from casa-rosa." in result.stdout
    listed = invoke("domains", "list", "--json")  # type: ignore[operator]
    assert json.loads(listed.stdout) == []
    assert not shop.container.domains.may_have_certificate(NAME)
    again = invoke("domains", "remove", NAME)  # type: ignore[operator]
    assert again.exit_code == 1
    assert NAME in again.stderr
    timeline = invoke("sites", "show", "casa-rosa")  # type: ignore[operator]
    assert "removed by an operator" in timeline.stdout
