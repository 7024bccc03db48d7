"""Normalising a custom domain name as an owner types it (docs/api.md "Custom domain").

``idna`` does the IDNA 2008 work (UTS #46 mapping: case folding, full-width forms...,
then the IDNA 2008 validity rules and A-label encoding); this module only refuses what is
not a host name we may serve: URLs, ports, IP addresses, single labels, numeric top-level
labels, and WebMagic's own host names and their subdomains. Every refusal is a
``ValidationError`` on the field ``domain`` whose message names the reason.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import idna

from webmagic_core.errors import ValidationError

FIELD = "domain"
MAX_NAME_LENGTH = 253  # octets, without the trailing dot (RFC 1035)
MAX_LABEL_LENGTH = 63
# A last label that reads as a number (in any base inet_aton takes) makes the name an
# IPv4 address to many parsers ("127.1", "0x7f.1"), and is never a real top-level domain.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def _refuse(reason: str) -> ValidationError:
    return ValidationError(reason, field=FIELD)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def normalize_domain(raw: str, *, reserved: Iterable[str] = ()) -> str:
    """The domain as stored and compared: lower case, A-labels, no trailing dot."""
    if not isinstance(raw, str):
        raise _refuse("the domain must be a string")
    text = raw.strip()
    if not text:
        raise _refuse("enter a domain name such as www.example.com")
    if "://" in text or any(c in text for c in "/?#@\\"):
        raise _refuse("enter the domain name alone (such as www.example.com), not a URL or a path")
    if _is_ip(text):
        raise _refuse("IP addresses cannot be used; enter a domain name such as www.example.com")
    if ":" in text:
        raise _refuse("enter the domain name without a port")
    if any(c.isspace() for c in text):
        raise _refuse("a domain name cannot contain spaces")
    if text.endswith("."):
        text = text[:-1]
    try:
        ascii_name = idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise _refuse(f"{raw.strip()!r} is not a valid domain name ({error})") from None
    except UnicodeError:
        raise _refuse(f"{raw.strip()!r} is not a valid domain name") from None
    name = ascii_name.lower()
    labels = name.split(".")
    if len(labels) < 2:
        raise _refuse(
            "a domain needs at least two labels, such as example.com (single names cannot be served)"
        )
    if any(not label for label in labels):
        raise _refuse(f"{raw.strip()!r} is not a valid domain name (empty label)")
    if any(len(label) > MAX_LABEL_LENGTH for label in labels):
        raise _refuse(f"{raw.strip()!r} is not a valid domain name (a label is longer than 63 characters)")
    if len(name) > MAX_NAME_LENGTH:
        raise _refuse("the domain name is longer than 253 characters")
    if _is_ip(name) or _NUMERIC_LABEL.match(labels[-1]):
        raise _refuse("IP addresses cannot be used; enter a domain name such as www.example.com")
    for own in reserved:
        if name == own or name.endswith("." + own):
            raise _refuse(f"{name} is one of WebMagic's own host names and cannot be used as a custom domain")
    return name


def own_hosts(*urls_or_hosts: str | None) -> frozenset[str]:
    """The host names of the given URLs (or bare host names), lower case, IPs left out
    (an IP is refused anyway, and "subdomains" of one mean nothing)."""
    hosts: set[str] = set()
    for value in urls_or_hosts:
        if not value:
            continue
        host = urlsplit(value).hostname if "://" in value else value
        if host:
            host = host.strip().lower().rstrip(".")
            if host and not _is_ip(host):
                hosts.add(host)
    return frozenset(hosts)


def domain_normalizer(reserved: Iterable[str]) -> Callable[[str], str]:
    names = frozenset(reserved)

    def normalize(raw: str) -> str:
        return normalize_domain(raw, reserved=names)

    return normalize
