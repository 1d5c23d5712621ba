"""Small networking helpers for tests."""

from __future__ import annotations

import socket

__all__ = ["closed_port", "free_port"]


def _ephemeral_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, then close)."""
    return _ephemeral_port()


def closed_port() -> int:
    """Return a TCP port on 127.0.0.1 with nothing listening on it.

    Connecting to it is refused (ECONNREFUSED) as long as nobody else grabs it in the meantime,
    which is very unlikely for a freshly released ephemeral port.
    """
    return _ephemeral_port()
