"""The CertificateProbe port: the socket adapter against local TLS servers presenting
certificates made by ``trustme``, and the fake configured with what those servers show,
through one suite."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import pytest
import trustme

from webmagic_adapters.tls_probe import SocketCertificateProbe, covers
from webmagic_core.domains.ports import CertificateProbe, Probe, SeenCertificate
from webmagic_core.testing.domains import FakeCertificateProbe

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DOMAIN = "shop.example.test"


@attrs.frozen
class Case:
    identities: tuple[str, ...]
    not_after: dt.datetime


CASES = {
    "valid": Case((DOMAIN,), NOW + dt.timedelta(days=80)),
    "wildcard": Case(("*.example.test",), NOW + dt.timedelta(days=80)),
    "expiring": Case((DOMAIN,), NOW + dt.timedelta(days=5)),
    "expired": Case((DOMAIN,), NOW - dt.timedelta(days=1)),
    "mismatch": Case(("other.example.test",), NOW + dt.timedelta(days=80)),
}


@contextmanager
def tls_server(ca: trustme.CA, case: Case) -> Iterator[tuple[int, bytes]]:
    """A TLS server on 127.0.0.1 presenting one certificate to every handshake."""
    leaf = ca.issue_cert(*case.identities, not_before=NOW - dt.timedelta(days=30), not_after=case.not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    try:
        yield listener.getsockname()[1], der
    finally:
        stop.set()
        thread.join()
        listener.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[int, bytes]]]:
    ca = trustme.CA()
    with (
        tls_server(ca, CASES["valid"]) as valid,
        tls_server(ca, CASES["wildcard"]) as wildcard,
        tls_server(ca, CASES["expiring"]) as expiring,
        tls_server(ca, CASES["expired"]) as expired,
        tls_server(ca, CASES["mismatch"]) as mismatch,
    ):
        yield {
            "valid": valid,
            "wildcard": wildcard,
            "expiring": expiring,
            "expired": expired,
            "mismatch": mismatch,
        }


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(params=["fake", "socket"])
def probe_for(request: pytest.FixtureRequest, servers: dict[str, tuple[int, bytes]]) -> object:
    def make(case: str | None) -> CertificateProbe:
        if request.param == "socket":
            port = servers[case][0] if case is not None else closed_port()
            return SocketCertificateProbe(port, timeout=2.0, connect_to="127.0.0.1")
        fake = FakeCertificateProbe()
        if case is not None:
            spec, der = CASES[case], servers[case][1]
            fake.certificates[DOMAIN] = SeenCertificate(
                not_after=spec.not_after,
                matches=any(covers(pattern, DOMAIN) for pattern in spec.identities),
                fingerprint=hashlib.sha256(der).hexdigest(),
            )
        return fake

    return make


@pytest.mark.parametrize(
    ("case", "matches"),
    [("valid", True), ("wildcard", True), ("expiring", True), ("expired", True), ("mismatch", False)],
)
def test_the_certificate_presented_for_the_name(
    probe_for: object, servers: dict[str, tuple[int, bytes]], case: str, matches: bool
) -> None:
    probe = probe_for(case)  # type: ignore[operator]
    result: Probe = probe.probe(DOMAIN)
    assert result.error is None
    assert result.certificate == SeenCertificate(
        not_after=CASES[case].not_after,
        matches=matches,
        fingerprint=hashlib.sha256(servers[case][1]).hexdigest(),
    )


def test_nothing_listening_is_reported_not_raised(probe_for: object) -> None:
    result: Probe = probe_for(None).probe(DOMAIN)  # type: ignore[operator]
    assert result.certificate is None
    assert result.error is not None
    assert DOMAIN in result.error


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("shop.example.test", "SHOP.example.test", True),
        ("*.example.test", "shop.example.test", True),
        ("*.example.test", "a.shop.example.test", False),
        ("*.example.test", "example.test", False),
        ("*.test", "example.test", False),
        ("other.example.test", "shop.example.test", False),
    ],
)
def test_covers(pattern: str, name: str, expected: bool) -> None:
    assert covers(pattern, name) is expected
