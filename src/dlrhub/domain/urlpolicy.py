"""Rules for the callback URLs customers register (SPEC §7).

Checking the URL text catches literal addresses at registration time; names that only
resolve to a forbidden address are caught later by the delivery client, which calls
:func:`is_forbidden_address` on every address it resolves.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from dlrhub.domain.errors import FieldError, InvalidInput

__all__ = ["MAX_URL_LENGTH", "UrlPolicy", "check_callback_url", "is_forbidden_address"]

MAX_URL_LENGTH = 2048

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED_V4 = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL_V6 = ipaddress.IPv6Network("fc00::/7")
# NAT64 gateways forward these to the embedded IPv4 address, so judge that address.
_NAT64_V6 = ipaddress.IPv6Network("64:ff9b::/96")

_HEX_LABEL = re.compile(r"0[xX][0-9a-fA-F]*")
_OCTAL_LABEL = re.compile(r"0[0-7]+")
_DECIMAL_LABEL = re.compile(r"0|[1-9][0-9]*")

_FORBIDDEN_TARGET = "must not target a private, loopback or link-local address"


@dataclass(frozen=True)
class UrlPolicy:
    """What the operator relaxes; both are off in production and on in ``serve --dev``."""

    allow_http: bool = False
    allow_private: bool = False


def check_callback_url(url: str, policy: UrlPolicy, field: str = "callbackUrl") -> str:
    """Return ``url`` unchanged if it may receive webhooks, else raise :class:`InvalidInput`."""
    problem = _find_problem(url, policy)
    if problem is not None:
        raise InvalidInput(f"{field} {problem}", errors=[FieldError(field, problem)])
    return url


def is_forbidden_address(ip: str) -> bool:
    """Return whether a webhook must not be sent to address ``ip``.

    Text that is not an IP address counts as forbidden: the caller is deciding whether
    to connect, and refusing is the safe answer to something it cannot judge.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return True
    return _is_forbidden(address)


def _find_problem(url: str, policy: UrlPolicy) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    # urlsplit silently drops tabs and newlines, so they have to be refused before it runs.
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "must be a valid absolute http or https URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return "must be an absolute http or https URL"
    if scheme == "http" and not policy.allow_http:
        return "must use https"
    return _find_netloc_problem(url, parts, policy)


def _find_netloc_problem(url: str, parts: SplitResult, policy: UrlPolicy) -> str | None:
    if "@" in parts.netloc:
        return "must not contain a user name or password"
    host = parts.hostname
    if not host:
        return "must include a host"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "must have a port between 1 and 65535"
    if "#" in url:
        return "must not contain a fragment"
    if not policy.allow_private and _is_forbidden_host(host):
        return _FORBIDDEN_TARGET
    return None


def _is_forbidden_host(host: str) -> bool:
    # A trailing dot makes the name fully qualified but changes nothing it resolves to.
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _literal_address(name)
    return address is not None and _is_forbidden(address)


def _literal_address(host: str) -> _IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return _legacy_ipv4(host)


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Decode the shorthand IPv4 forms resolvers still accept ("127.1", "0x7f.0.0.1", "2130706433").

    Without this, such a host would pass as a name and only be refused at delivery time.
    """
    labels = host.split(".")
    if not 1 <= len(labels) <= 4:
        return None
    numbers = [_legacy_number(label) for label in labels]
    if any(number is None for number in numbers):
        return None
    values = [n for n in numbers if n is not None]
    # Every label but the last is one byte; the last fills all the remaining bytes.
    last_bits = 8 * (5 - len(values))
    if any(v > 0xFF for v in values[:-1]) or values[-1] >= 1 << last_bits:
        return None
    total = 0
    for value in values[:-1]:
        total = (total << 8) | value
    return ipaddress.IPv4Address((total << last_bits) | values[-1])


def _legacy_number(label: str) -> int | None:
    # Regexes rather than int(): int() also takes signs, underscores and spaces.
    if _HEX_LABEL.fullmatch(label):
        return int(label[2:] or "0", 16)
    if _OCTAL_LABEL.fullmatch(label):
        return int(label, 8)
    if _DECIMAL_LABEL.fullmatch(label):
        return int(label, 10)
    return None


def _translated_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64_V6:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_forbidden(address: _IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # Mapped and NAT64 addresses are only a way of reaching an IPv4 address, so that
        # address alone decides (DNS64 networks hand out NAT64 forms of public hosts).
        translated = _translated_ipv4(address)
        if translated is not None:
            return _is_forbidden(translated)
        sixtofour = address.sixtofour
        if sixtofour is not None and _is_forbidden(sixtofour):
            return True
        if address in _UNIQUE_LOCAL_V6 or address.is_site_local:
            return True
    elif address in _SHARED_V4:
        return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or not address.is_global
    )
