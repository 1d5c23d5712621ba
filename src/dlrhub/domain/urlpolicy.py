"""Rules for the callback URLs customers register (SPEC §7).

The host is judged exactly as the HTTP client will connect to it: :func:`client_url` is the
one place a callback URL becomes the ``yarl.URL`` that aiohttp connects to, so IDNA and
Unicode normalisation (full-width and circled digits, ideographic full stops) happen
before the judgement, not after it. Literal addresses are caught at registration time;
names that only resolve to a forbidden address are caught by the delivery client, which
calls :func:`is_forbidden_address` on every address it resolves and every socket it opens.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import yarl

from dlrhub.domain.errors import FieldError, InvalidInput

__all__ = [
    "EMBEDDING_V6",
    "FORBIDDEN_TARGET",
    "FORBIDDEN_V4",
    "FORBIDDEN_V6",
    "MAX_URL_LENGTH",
    "UrlPolicy",
    "check_callback_url",
    "client_url",
    "connect_host",
    "is_forbidden_address",
]

MAX_URL_LENGTH = 2048

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# IANA special-purpose registries and friends: nothing here is a customer's public endpoint.
# Blocks marked globally reachable by IANA but useless as a webhook target (192.0.0.9/32,
# 2001:1::1/128 …) are refused with their parent block: refusing too much is the safe side.
FORBIDDEN_V4: tuple[tuple[str, ipaddress.IPv4Network], ...] = (
    ("this network", _V4("0.0.0.0/8")),
    ("private", _V4("10.0.0.0/8")),
    ("shared address space (CGNAT)", _V4("100.64.0.0/10")),
    ("loopback", _V4("127.0.0.0/8")),
    ("link-local", _V4("169.254.0.0/16")),
    ("private", _V4("172.16.0.0/12")),
    ("IETF protocol assignments", _V4("192.0.0.0/24")),
    ("documentation (TEST-NET-1)", _V4("192.0.2.0/24")),
    ("6to4 relay anycast", _V4("192.88.99.0/24")),
    ("private", _V4("192.168.0.0/16")),
    ("benchmarking", _V4("198.18.0.0/15")),
    ("documentation (TEST-NET-2)", _V4("198.51.100.0/24")),
    ("documentation (TEST-NET-3)", _V4("203.0.113.0/24")),
    ("multicast", _V4("224.0.0.0/4")),
    ("reserved", _V4("240.0.0.0/4")),
    ("limited broadcast", _V4("255.255.255.255/32")),
)

FORBIDDEN_V6: tuple[tuple[str, ipaddress.IPv6Network], ...] = (
    ("unspecified", _V6("::/128")),
    ("loopback", _V6("::1/128")),
    ("IPv4-compatible (deprecated)", _V6("::/96")),
    ("local-use NAT64", _V6("64:ff9b:1::/48")),
    ("discard-only", _V6("100::/64")),
    ("IETF protocol assignments (Teredo, benchmarking, ORCHID)", _V6("2001::/23")),
    ("documentation", _V6("2001:db8::/32")),
    ("documentation", _V6("3fff::/20")),
    ("segment routing SIDs", _V6("5f00::/16")),
    ("unique-local", _V6("fc00::/7")),
    ("link-local", _V6("fe80::/10")),
    ("site-local (deprecated)", _V6("fec0::/10")),
    ("multicast", _V6("ff00::/8")),
)

# Only global unicast space can be a customer's endpoint; the rest of IPv6 is unassigned.
_GLOBAL_UNICAST_V6 = _V6("2000::/3")


def _low_32_bits(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def _sixtofour(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)


# Prefixes that only carry an IPv4 address somewhere (a mapped socket, a NAT64 gateway, a
# 6to4 relay): the embedded address alone decides, since DNS64 networks hand out NAT64
# forms of public hosts.
EMBEDDING_V6: tuple[
    tuple[str, ipaddress.IPv6Network, Callable[[ipaddress.IPv6Address], ipaddress.IPv4Address]],
    ...,
] = (
    ("IPv4-mapped", _V6("::ffff:0:0/96"), _low_32_bits),
    ("NAT64", _V6("64:ff9b::/96"), _low_32_bits),
    ("6to4", _V6("2002::/16"), _sixtofour),
)

_HEX_LABEL = re.compile(r"0[xX][0-9a-fA-F]*")
_OCTAL_LABEL = re.compile(r"0[0-7]+")
_DECIMAL_LABEL = re.compile(r"0|[1-9][0-9]*")
# What a host may be once normalised: DNS labels (underscores occur in real names).
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")

FORBIDDEN_TARGET = "must not target a private, loopback or link-local address"
_BAD_HOST = "must have a valid host name"


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


def client_url(url: str) -> yarl.URL:
    """The URL the HTTP client requests for ``url``.

    An ASCII URL is sent exactly as built (re-quoting could change a query string that was
    signed, SPEC §8 GET); anything else is encoded by yarl, IDNA (UTS 46, NFKC) included,
    which is what turns full-width "127.0.0.1" into the ASCII one. Raises ValueError
    (UnicodeError included) for a URL yarl cannot encode.
    """
    return yarl.URL(url, encoded=True) if url.isascii() else yarl.URL(url)


def connect_host(url: str) -> str | None:
    """The host the client will connect to for ``url``, lower-cased, or None if there is
    none or it cannot be encoded. IPv6 literals come back without brackets."""
    try:
        raw = client_url(url).raw_host
    except ValueError:
        return None
    if not raw:
        return None
    # The zone of "fe80::1%25eth0" is percent-encoded in a URL; ipaddress wants it plain.
    return raw.replace("%25", "%").lower() if ":" in raw else raw.lower()


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
    if not parts.hostname:
        return "must include a host"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "must have a port between 1 and 65535"
    if "#" in url:
        return "must not contain a fragment"
    host = connect_host(url)
    if host is None or not (":" in host or _HOST_NAME.fullmatch(host)):
        return _BAD_HOST
    if not policy.allow_private and _is_forbidden_host(host):
        return FORBIDDEN_TARGET
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


def _is_forbidden(address: _IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        for _, prefix, embedded in EMBEDDING_V6:
            if address in prefix:
                return _is_forbidden(embedded(address))
        if address not in _GLOBAL_UNICAST_V6:
            return True
        table: tuple[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network], ...] = FORBIDDEN_V6
    else:
        table = FORBIDDEN_V4
    if any(address in network for _, network in table):
        return True
    # The standard library's view as a backstop: whatever it knows not to be global stays out.
    return not address.is_global
