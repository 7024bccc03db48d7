"""``CertificateProbe``: a TLS handshake with SNI to a domain (port 443, or
``WEBMAGIC_TLS_PROBE_PORT``), reporting the certificate the server presents.

The chain is deliberately not verified here: the question is what the front serves for
the name (its expiry, whether it covers the name), not whether this machine trusts it;
an untrusted or self-signed certificate is still reported with its dates."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from webmagic_core.domains.ports import Probe, SeenCertificate

DEFAULT_TIMEOUT_S = 5.0


def covers(pattern: str, name: str) -> bool:
    """RFC 6125: exact match, or a wildcard as the whole left-most label matching one label."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        first, _, rest = name.partition(".")
        return bool(first) and rest == pattern[2:] and "." in rest
    return False


def names_of(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        # No SAN: clients ignore the common name nowadays, and so do we.
        return []
    assert isinstance(san, x509.SubjectAlternativeName)
    return [str(name) for name in san.get_values_for_type(x509.DNSName)]


class SocketCertificateProbe:
    """``connect_to`` (tests only) connects to that address instead of resolving the domain;
    the SNI is always the domain."""

    def __init__(
        self, port: int = 443, *, timeout: float = DEFAULT_TIMEOUT_S, connect_to: str | None = None
    ) -> None:
        self.port = port
        self.timeout = timeout
        self.connect_to = connect_to

    def probe(self, domain: str) -> Probe:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection((self.connect_to or domain, self.port), timeout=self.timeout) as raw,
                context.wrap_socket(raw, server_hostname=domain) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as error:
            return Probe(None, error=f"no TLS handshake with {domain}:{self.port} ({_describe(error)})")
        if not der:
            return Probe(None, error=f"{domain}:{self.port} presented no certificate")
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            return Probe(None, error=f"{domain}:{self.port} presented an unreadable certificate")
        not_after = certificate.not_valid_after_utc.astimezone(dt.UTC)
        matches = any(covers(pattern, domain) for pattern in names_of(certificate))
        return Probe(
            SeenCertificate(not_after=not_after, matches=matches, fingerprint=hashlib.sha256(der).hexdigest())
        )


def _describe(error: BaseException) -> str:
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return "the name does not resolve"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or type(error).__name__}"
    return (error.strerror if isinstance(error, OSError) else None) or type(error).__name__
