"""Normalising custom domain names: examples, and hypothesis properties (idempotent; never
an IP address, one of our own hosts, or a label over 63 octets)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webmagic_adapters.domain_names import normalize_domain, own_hosts
from webmagic_core.errors import ValidationError

OWN = ("app.webmagic.test", "sites.webmagic.test")


def normalize(raw: str) -> str:
    return normalize_domain(raw, reserved=OWN)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Example.COM", "example.com"),
        ("www.example.com.", "www.example.com"),
        ("  shop.example.org  ", "shop.example.org"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
        ("\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", "example.com"),  # full-width EXAMPLE (UTS 46)
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008: ß is kept, not mapped to ss
        ("webmagic.test", "webmagic.test"),  # a parent of our hosts is someone else's name
    ],
)
def test_normal_forms(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "localhost",
        "10.0.0.1",
        "127.1",
        "0x7f.1",
        "::1",
        "[::1]",
        "http://example.com",
        "example.com/path",
        "user@example.com",
        "example.com:443",
        "exa mple.com",
        "a..example",
        "-x.example",
        "x_y.example",
        "a" * 64 + ".example",
        ".".join(["a" * 63] * 4) + ".example",
        "app.webmagic.test",
        "SITES.webmagic.test.",
        "deep.sub.sites.webmagic.test",
    ],
)
def test_refusals(raw: str) -> None:
    with pytest.raises(ValidationError) as error:
        normalize(raw)
    assert error.value.field == "domain"
    assert error.value.detail


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)
NAMES = st.one_of(
    st.lists(LABEL, min_size=1, max_size=5).map(".".join),
    st.text(min_size=1, max_size=80),
    st.lists(st.text(min_size=1, max_size=70), min_size=1, max_size=4).map(".".join),
    st.ip_addresses().map(str),
    st.sampled_from(OWN).flatmap(lambda own: LABEL.map(lambda label: f"{label}.{own}")),
)


def _accepted(raw: str) -> str | None:
    try:
        return normalize(raw)
    except ValidationError:
        return None


@given(NAMES)
def test_normalisation_is_idempotent_and_never_accepts_what_it_must_not(raw: str) -> None:
    name = _accepted(raw)
    if name is None:
        return
    assert normalize(name) == name
    assert normalize(name.upper() + ".") == name
    labels = name.split(".")
    assert len(labels) >= 2
    assert all(0 < len(label.encode()) <= 63 for label in labels)
    assert name.isascii()
    assert name == name.lower()
    for text in (name, name.strip("[]")):
        with pytest.raises(ValueError, match="does not appear to be"):
            ipaddress.ip_address(text)
    assert not any(name == own or name.endswith("." + own) for own in OWN)


@given(st.ip_addresses())
def test_ip_addresses_are_always_refused(address: object) -> None:
    for form in (str(address), f"[{address}]", f"{address}."):
        with pytest.raises(ValidationError):
            normalize(form)


def test_own_hosts_come_from_urls_and_names() -> None:
    assert own_hosts(
        "https://App.WebMagic.test:8443/", None, "sites.webmagic.test.", "http://127.0.0.1:8000"
    ) == {
        "app.webmagic.test",
        "sites.webmagic.test",
    }
