"""The DnsResolver port: the dnspython adapter against a real DNS server started on
loopback, and the fake configured with the same zone, through one suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dns_support import ZONE_NAMES, ZONE_SERVFAIL, ZONE_TIMEOUT, ZONE_TXT, running_dns_server
from webmagic_adapters.dns_resolver import DnsPythonResolver, parse_nameservers
from webmagic_core.domains.ports import DnsResolver, TxtAnswer, TxtLookup
from webmagic_core.testing.domains import FakeDnsResolver


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    with running_dns_server() as port:
        yield port


@pytest.fixture(params=["fake", "dnspython"])
def resolver(request: pytest.FixtureRequest) -> DnsResolver:
    if request.param == "fake":
        return FakeDnsResolver(
            txt_records={name: [list(s) for s in records] for name, records in ZONE_TXT.items()},
            names=set(ZONE_NAMES),
            servfail=set(ZONE_SERVFAIL),
            timeout=set(ZONE_TIMEOUT),
        )
    port = request.getfixturevalue("dns_port")
    return DnsPythonResolver(parse_nameservers(f"127.0.0.1:{port}"), timeout=0.5)


def test_one_record(resolver: DnsResolver) -> None:
    assert resolver.txt("_webmagic-challenge.one.test") == TxtLookup(TxtAnswer.ANSWER, ("token-one",))


def test_several_records_all_come_back(resolver: DnsResolver) -> None:
    lookup = resolver.txt("_webmagic-challenge.many.test")
    assert lookup.answer is TxtAnswer.ANSWER
    assert sorted(lookup.records) == ["other", "token-many", "v=spf1 -all"]


def test_the_strings_of_one_record_are_joined(resolver: DnsResolver) -> None:
    assert resolver.txt("_webmagic-challenge.split.test").records == ("token-split-in-two",)


def test_utf8_text_is_decoded(resolver: DnsResolver) -> None:
    assert resolver.txt("_webmagic-challenge.unicode.test").records == ("caf\u00e9",)


def test_names_are_case_insensitive_and_a_trailing_dot_is_fine(resolver: DnsResolver) -> None:
    assert resolver.txt("_WebMagic-Challenge.ONE.test.").records == ("token-one",)


def test_an_unknown_name_is_nxdomain(resolver: DnsResolver) -> None:
    assert resolver.txt("_webmagic-challenge.nowhere.test") == TxtLookup(TxtAnswer.NXDOMAIN)


def test_a_name_without_txt_records_is_no_answer(resolver: DnsResolver) -> None:
    assert resolver.txt("_webmagic-challenge.nodata.test") == TxtLookup(TxtAnswer.NO_ANSWER)


def test_a_failing_server_is_servfail(resolver: DnsResolver) -> None:
    assert resolver.txt("_webmagic-challenge.servfail.test") == TxtLookup(TxtAnswer.SERVFAIL)


def test_a_silent_server_is_a_timeout(resolver: DnsResolver) -> None:
    assert resolver.txt("_webmagic-challenge.timeout.test") == TxtLookup(TxtAnswer.TIMEOUT)


def test_parse_nameservers() -> None:
    assert parse_nameservers("10.0.0.2, 10.0.0.3:5353,[::1]:5300, ::1") == (
        ("10.0.0.2", 53),
        ("10.0.0.3", 5353),
        ("::1", 5300),
        ("::1", 53),
    )
    for bad in ("dns.example.com", "10.0.0.2:0", "10.0.0.2:x", "[::1]x", " , "):
        with pytest.raises(ValueError, match=r"\S"):
            parse_nameservers(bad)
