"""Test TLS material built with trustme: a CA, a server certificate and SSL contexts."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import trustme

__all__ = ["SERVER_NAMES", "TestTLS", "make_tls", "make_untrusted_server_context"]

SERVER_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")


@dataclass
class TestTLS:
    """One test CA and one server certificate for 127.0.0.1, localhost and ::1."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    ca: Any  # trustme.CA
    server_cert: Any  # trustme.LeafCert
    ca_pem_path: Path
    server_cert_path: Path
    server_key_path: Path

    def server_ssl_context(self) -> ssl.SSLContext:
        """A fresh server-side context presenting the server certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(ctx)
        return ctx

    def client_ssl_context(self) -> ssl.SSLContext:
        """A fresh client-side context that trusts (only) the test CA, hostname checks on."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(ctx)
        return ctx


def make_tls(directory: Path) -> TestTLS:
    """Create a CA and server certificate; write ``ca.pem``, ``server.pem``, ``server.key``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server_cert = ca.issue_cert(*SERVER_NAMES)
    ca_pem_path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem_path))
    server_cert_path = directory / "server.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(server_cert_path))
    for extra in server_cert.cert_chain_pems[1:]:
        extra.write_to_path(str(server_cert_path), append=True)
    server_key_path = directory / "server.key"
    server_cert.private_key_pem.write_to_path(str(server_key_path))
    return TestTLS(
        ca=ca,
        server_cert=server_cert,
        ca_pem_path=ca_pem_path,
        server_cert_path=server_cert_path,
        server_key_path=server_key_path,
    )


def make_untrusted_server_context() -> ssl.SSLContext:
    """A server context whose certificate (valid names) comes from a throwaway, unknown CA."""
    throwaway_ca = trustme.CA()
    cert = throwaway_ca.issue_cert(*SERVER_NAMES)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx
