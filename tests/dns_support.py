"""A small authoritative DNS server on loopback (dnslib, UDP and TCP on one free port) for
the DnsResolver contract suite and the CLI tests, and the zone it serves (mutable: tests
add and withdraw records while it runs)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from dnslib import QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSError, DNSLogger, DNSServer

# The zone: TXT records (each a list of strings), names without TXT, failing names.
ZONE_TXT: dict[str, list[list[str]]] = {
    "_webmagic-challenge.one.test": [["token-one"]],
    "_webmagic-challenge.many.test": [["v=spf1 -all"], ["token-many"], ["other"]],
    "_webmagic-challenge.split.test": [["token-", "split-in-two"]],
    "_webmagic-challenge.unicode.test": [["caf\u00e9"]],
}
ZONE_NAMES = {"_webmagic-challenge.nodata.test"}  # exists (A record), no TXT
ZONE_SERVFAIL = {"_webmagic-challenge.servfail.test"}
ZONE_TIMEOUT = {"_webmagic-challenge.timeout.test"}


@attrs.define
class Zone:
    txt: dict[str, list[list[str]]] = attrs.field(
        factory=lambda: {k: [list(s) for s in v] for k, v in ZONE_TXT.items()}
    )
    names: set[str] = attrs.field(factory=lambda: set(ZONE_NAMES))
    servfail: set[str] = attrs.field(factory=lambda: set(ZONE_SERVFAIL))
    timeout: set[str] = attrs.field(factory=lambda: set(ZONE_TIMEOUT))


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        reply.header.aa = 1
        qname = str(request.q.qname).rstrip(".").lower()
        if qname in self.zone.timeout:
            raise DNSError("dropped on purpose")  # no reply at all: the client times out
        if qname in self.zone.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        records = self.zone.txt.get(qname)
        if records is not None:
            if request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
                for strings in records:
                    rdata = TXT([s.encode() for s in strings])
                    reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=rdata, ttl=60))
            return reply
        if qname in self.zone.names:
            if request.q.qtype == QTYPE.A:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
            return reply
        reply.header.rcode = RCODE.NXDOMAIN
        return reply


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port: int = udp.getsockname()[1]
    return port


@contextmanager
def running_dns_server(zone: Zone | None = None) -> Iterator[int]:
    """Serve ``zone`` (default: the contract suite's) on 127.0.0.1, UDP and TCP; yields the port."""
    resolver = ZoneResolver(zone or Zone())
    logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    for _ in range(5):
        port = _free_port()
        try:
            udp = DNSServer(resolver, address="127.0.0.1", port=port, logger=logger)
            tcp = DNSServer(resolver, address="127.0.0.1", port=port, tcp=True, logger=logger)
        except OSError:
            continue
        break
    else:
        raise RuntimeError("no free port for the test DNS server")
    udp.start_thread()
    tcp.start_thread()
    try:
        yield port
    finally:
        udp.stop()
        tcp.stop()
        udp.server.server_close()
        tcp.server.server_close()
