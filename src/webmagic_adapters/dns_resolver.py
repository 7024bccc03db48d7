"""``DnsResolver`` on dnspython: TXT lookups through the system resolver, or through the
servers of ``WEBMAGIC_DNS_NAMESERVERS`` (``ip[:port],...``; IPv6 as ``[::1]:5353``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import dns.exception
import dns.message
import dns.nameserver
import dns.rdatatype
import dns.resolver

from webmagic_core.domains.ports import TxtAnswer, TxtLookup

DEFAULT_TIMEOUT_S = 5.0


def parse_nameservers(value: str) -> tuple[tuple[str, int], ...]:
    """``"10.0.0.2, 10.0.0.3:5353, [::1]:53"`` -> ((ip, port), ...); ``ValueError`` naming
    the entry that is not an IP address with an optional port."""
    servers: list[tuple[str, int]] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        host, port_text = entry, ""
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            if rest and not rest.startswith(":"):
                raise ValueError(f"{entry!r} is not ip[:port]")
            port_text = rest[1:]
        elif entry.count(":") == 1:
            host, port_text = entry.split(":")
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address (ip[:port], IPv6 as [ip]:port)") from None
        port = 53
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"{entry!r} has no valid port")
            port = int(port_text)
        servers.append((address, port))
    if not servers:
        raise ValueError("names no server")
    return tuple(servers)


class DnsPythonResolver:
    """One ``dns.resolver.Resolver`` (no cache: every lookup asks the servers, so a record
    that has gone is noticed at once). Safe to share between threads."""

    def __init__(
        self, nameservers: Sequence[tuple[str, int]] | None = None, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._resolver = dns.resolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in nameservers]
        self._resolver.lifetime = timeout
        self._resolver.timeout = timeout

    def txt(self, name: str) -> TxtLookup:
        try:
            answer = self._resolver.resolve(name.rstrip(".") + ".", dns.rdatatype.TXT, search=False)
        except dns.resolver.NXDOMAIN:
            return TxtLookup(TxtAnswer.NXDOMAIN)
        except dns.resolver.NoAnswer:
            return TxtLookup(TxtAnswer.NO_ANSWER)
        except dns.exception.Timeout:
            return TxtLookup(TxtAnswer.TIMEOUT)
        except (dns.resolver.NoNameservers, dns.resolver.YXDOMAIN, dns.message.ShortHeader):
            return TxtLookup(TxtAnswer.SERVFAIL)
        records = tuple(
            b"".join(rdata.strings).decode("utf-8", "replace")
            for rdata in answer
            if rdata.rdtype == dns.rdatatype.TXT
        )
        return TxtLookup(TxtAnswer.ANSWER, records) if records else TxtLookup(TxtAnswer.NO_ANSWER)
