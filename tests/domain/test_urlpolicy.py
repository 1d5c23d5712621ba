from __future__ import annotations

import ipaddress

import pytest

from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.urlpolicy import (
    EMBEDDING_V6,
    FORBIDDEN_V4,
    FORBIDDEN_V6,
    UrlPolicy,
    check_callback_url,
    connect_host,
    is_forbidden_address,
)

STRICT = UrlPolicy()
HTTP = UrlPolicy(allow_http=True)
PRIVATE = UrlPolicy(allow_private=True)
DEV = UrlPolicy(allow_http=True, allow_private=True)

HTTPS_ONLY = "must use https"
FORBIDDEN = "must not target a private, loopback or link-local address"
NOT_HTTP_URL = "must be an absolute http or https URL"
NO_HOST = "must include a host"
CREDENTIALS = "must not contain a user name or password"
FRAGMENT = "must not contain a fragment"
BAD_PORT = "must have a port between 1 and 65535"
INVALID = "must be a valid absolute http or https URL"
SPACES = "must not contain spaces or control characters"
TOO_LONG = "must be at most 2048 characters"
BAD_HOST = "must have a valid host name"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "https://example.com/",
        "https://example.com/hooks/dlr?x=1&y=2",
        "https://example.com:8443/path",
        "HTTPS://Example.COM/Path",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://hooks.example.co.uk./x",
        "https://localhost.example.com",  # only the localhost name itself is special
        "https://10.example.com",
        "https://1.2.3.4.5",  # not an address: an ordinary (if odd) name
        "https://xn--caf-dma.example",
        "https://café.example/",
        "https://\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com/",  # full-width "example"
        "https://\u24930.0.1/",  # U+2493 is "12." once normalised: 12.0.0.1 is public
        "https://hooks_v2.example.com/",
        "https://[2001:4860:4860::8888]/",
        "https://[64:ff9b::808:808]/",  # NAT64 form of a public address
        "https://" + "a" * 2036 + ".com",  # exactly 2048 characters
    ],
)
def test_accepted(url: str) -> None:
    assert check_callback_url(url, STRICT) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com", HTTPS_ONLY),
        ("ftp://example.com", NOT_HTTP_URL),
        ("ws://example.com", NOT_HTTP_URL),
        ("not a url", SPACES),
        ("not-a-url", NOT_HTTP_URL),
        ("example.com/hook", NOT_HTTP_URL),
        ("//example.com/hook", NOT_HTTP_URL),
        ("", NOT_HTTP_URL),
        ("https://", NO_HOST),
        ("https:///path", NO_HOST),
        ("https:example.com", NO_HOST),
        ("https://:443/x", NO_HOST),
        ("https://u:p@x.com", CREDENTIALS),
        ("https://user@x.com", CREDENTIALS),
        ("https://@x.com", CREDENTIALS),
        ("https://x.com/#top", FRAGMENT),
        ("https://x.com#", FRAGMENT),
        ("https://x.com:0/", BAD_PORT),
        ("https://x.com:99999/", BAD_PORT),
        ("https://x.com:abc/", BAD_PORT),
        ("https://[::1", INVALID),
        ("https://ex ample.com", SPACES),
        ("https://example.com/\n", SPACES),
        ("https://exa\tmple.com", SPACES),
        ("https://example.com/\x7f", SPACES),
        ("https://" + "a" * 2037 + ".com", TOO_LONG),
        ("https://10.1.2.3", FORBIDDEN),
        ("https://127.0.0.1/hook", FORBIDDEN),
        ("https://127.0.0.1:8080/hook", FORBIDDEN),
        ("https://[::1]/hook", FORBIDDEN),
        ("https://[::1]:8443", FORBIDDEN),
        ("https://169.254.169.254/latest/meta-data", FORBIDDEN),
        ("https://100.64.0.1", FORBIDDEN),
        ("https://192.168.1.1", FORBIDDEN),
        ("https://172.16.0.1", FORBIDDEN),
        ("https://0.0.0.0", FORBIDDEN),
        ("https://224.0.0.1", FORBIDDEN),
        ("https://255.255.255.255", FORBIDDEN),
        ("https://[::ffff:127.0.0.1]", FORBIDDEN),
        ("https://[::ffff:10.0.0.1]", FORBIDDEN),
        ("https://[fd00::1]", FORBIDDEN),
        ("https://[fe80::1]", FORBIDDEN),
        ("https://[fe80::1%25eth0]", FORBIDDEN),
        ("https://[::]", FORBIDDEN),
        ("https://[ff02::1]", FORBIDDEN),
        ("https://localhost", FORBIDDEN),
        ("https://LOCALHOST:8443", FORBIDDEN),
        ("https://localhost./", FORBIDDEN),
        ("https://api.localhost", FORBIDDEN),
        # Shorthand IPv4 forms that resolvers still turn into addresses.
        ("https://2130706433", FORBIDDEN),
        ("https://0x7f000001", FORBIDDEN),
        ("https://127.1", FORBIDDEN),
        ("https://0x7f.0.0.1", FORBIDDEN),
        ("https://0177.0.0.1", FORBIDDEN),
        ("https://127.000.000.001", FORBIDDEN),
        ("https://10.0.0.1.", FORBIDDEN),
        ("https://127.0.0.1../", BAD_HOST),
        ("https://[::ffff:7f00:1]/", FORBIDDEN),
        ("https://[64:ff9b::7f00:1]/", FORBIDDEN),
        ("https://[64:ff9b:1::808:808]/", FORBIDDEN),
        ("https://192.0.0.8/", FORBIDDEN),
        ("https://198.18.0.1/", FORBIDDEN),
        ("https://[2001:db8::1]/", FORBIDDEN),
        # What the HTTP client's IDNA (UTS 46, NFKC) turns into a forbidden host (issue 8).
        ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11:9443/x", FORBIDDEN),  # full-width
        ("https://127\u30020\u30020\u30021/", FORBIDDEN),  # ideographic full stop
        ("https://127\uff0e0\uff0e0\uff0e1/", FORBIDDEN),  # full-width full stop
        ("https://127\uff610\uff610\uff611/", FORBIDDEN),  # halfwidth ideographic stop
        ("https://\u2460\u2461\u2466.0.0.1/", FORBIDDEN),  # circled ①②⑦
        (
            "https://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/",
            FORBIDDEN,
        ),
        ("https://\U0001d7cf\U0001d7d0\U0001d7d5.0.0.1/", FORBIDDEN),  # mathematical bold
        ("https://\u00b9\u00b2\u2077.0.0.1/", FORBIDDEN),  # superscript
        ("https://\uff11\uff12\uff17.\uff11/", FORBIDDEN),  # full-width short form
        ("https://\uff10\uff58\uff17\uff46.1/", FORBIDDEN),  # full-width hex
        ("https://\uff12\uff11\uff13\uff10\uff17\uff10\uff16\uff14\uff13\uff13/", FORBIDDEN),
        ("https://127.0.0.1\u3002/", FORBIDDEN),  # ideographic trailing dot
        ("https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/", FORBIDDEN),
        ("https://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3/", FORBIDDEN),
        ("https://LocalHost./", FORBIDDEN),
        # Hosts the client cannot encode, or that no resolver could take as a name.
        ("https://a\u00ad.com/", BAD_HOST),
        ("https://ex\u200bample.com/", BAD_HOST),
        ("https://%31%32%37.0.0.1/", BAD_HOST),
        ("https://a..b/", BAD_HOST),
        ("https://.example.com/", BAD_HOST),
        # NFKC turning part of the host into URL syntax is refused before any of that.
        ("https://evil.com\uff20127.0.0.1/", INVALID),
        ("https://\uff11\uff12\uff17.0.0.1\uff1a80/", INVALID),
    ],
)
def test_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        check_callback_url(url, STRICT)
    assert excinfo.value.errors == [FieldError("callbackUrl", message)]
    assert excinfo.value.status == 400


@pytest.mark.parametrize(
    ("url", "policy", "message"),
    [
        ("http://example.com", HTTP, None),
        ("http://example.com", PRIVATE, HTTPS_ONLY),
        ("http://127.0.0.1:8080", HTTP, FORBIDDEN),
        ("http://127.0.0.1:8080", DEV, None),
        ("https://127.0.0.1", PRIVATE, None),
        ("https://[::1]", PRIVATE, None),
        ("https://localhost:8443", PRIVATE, None),
        ("https://169.254.169.254", PRIVATE, None),
        ("http://localhost:8000/hook", DEV, None),
        # Relaxations never lift the structural rules.
        ("ftp://example.com", DEV, NOT_HTTP_URL),
        ("http://u:p@localhost", DEV, CREDENTIALS),
        ("http://localhost/#x", DEV, FRAGMENT),
    ],
)
def test_policy(url: str, policy: UrlPolicy, message: str | None) -> None:
    if message is None:
        assert check_callback_url(url, policy) == url
    else:
        with pytest.raises(InvalidInput) as excinfo:
            check_callback_url(url, policy)
        assert excinfo.value.errors == [FieldError("callbackUrl", message)]


def test_field_name_is_used() -> None:
    with pytest.raises(InvalidInput) as excinfo:
        check_callback_url("http://example.com", STRICT, field="url")
    assert excinfo.value.errors == [FieldError("url", HTTPS_ONLY)]
    assert "url" in excinfo.value.detail


def test_policy_defaults() -> None:
    assert UrlPolicy() == UrlPolicy(allow_http=False, allow_private=False)


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("8.8.8.8", False),
        ("93.184.216.34", False),
        ("2606:4700:4700::1111", False),
        ("2a00:1450:4001:82a::200e", False),
        ("10.0.0.1", True),
        ("172.16.5.4", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.168.0.1", True),
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("0.1.2.3", True),
        ("100.64.0.1", True),
        ("100.127.255.254", True),
        ("100.128.0.1", False),
        ("224.0.0.1", True),
        ("239.255.255.250", True),
        ("240.0.0.1", True),
        ("255.255.255.255", True),
        ("192.0.2.1", True),
        ("198.18.0.1", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("fd12:3456:789a::1", True),
        ("fec0::1", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.1.2.3", True),
        ("::ffff:169.254.169.254", True),
        ("::ffff:100.64.0.1", True),
        ("::ffff:8.8.8.8", False),
        ("64:ff9b::7f00:1", True),
        ("64:ff9b::808:808", False),
        ("2002:7f00:1::1", True),
        ("2002:a00:1::1", True),
        ("2002:808:808::1", False),
        # IANA special-purpose blocks (issue 8), and their public neighbours.
        ("192.0.0.1", True),
        ("192.0.0.9", True),
        ("192.0.0.255", True),
        ("192.0.1.255", False),
        ("192.0.2.255", True),
        ("192.0.3.0", False),
        ("192.88.99.1", True),
        ("192.88.98.255", False),
        ("198.17.255.255", False),
        ("198.19.255.255", True),
        ("198.20.0.0", False),
        ("198.51.100.7", True),
        ("203.0.113.9", True),
        ("203.0.114.0", False),
        ("100.63.255.255", False),
        ("11.0.0.1", False),
        ("223.255.255.255", False),
        ("1.1.1.1", False),
        ("::7f00:1", True),  # IPv4-compatible (deprecated)
        ("::ffff:7f00:1", True),
        ("::ffff:192.0.0.1", True),
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("64:ff9b::c000:1", True),  # NAT64 of 192.0.0.1
        ("64:ff9b:1::808:808", True),  # local-use NAT64
        ("100::1", True),
        ("2001::1", True),  # Teredo
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),  # Teredo, public-looking client
        ("2001:2::1", True),  # benchmarking
        ("2001:10::1", True),  # ORCHID
        ("2001:1ff:ffff::1", True),
        ("2001:200::1", False),  # the first allocation past 2001::/23
        ("2001:db8::1", True),
        ("2001:db8:ffff::1", True),
        ("2002:c000:201::1", True),  # 6to4 of 192.0.2.1 (documentation)
        ("2002:c000:1::1", True),  # 6to4 of 192.0.0.1
        ("3fff::1", True),
        ("5f00::1", True),
        ("4000::1", True),  # outside global unicast 2000::/3
        ("2c0f:f248::1", False),
        ("fe80::1%2", True),
        ("not-an-ip", True),  # unjudgeable: refuse
        ("", True),
    ],
)
def test_is_forbidden_address(ip: str, expected: bool) -> None:
    assert is_forbidden_address(ip) is expected


@pytest.mark.parametrize(
    ("name", "network"),
    [(name, network) for name, network in FORBIDDEN_V4 + FORBIDDEN_V6],
    ids=lambda value: str(value),
)
def test_every_address_of_every_table_block_is_forbidden(name: str, network: object) -> None:
    assert isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network), name
    for address in (network[0], network[len(list(_sample(network))) // 2], network[-1]):
        assert is_forbidden_address(str(address)), (name, str(address))


def _sample(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> range:
    return range(min(network.num_addresses, 1 << 16))


@pytest.mark.parametrize(
    ("ipv4", "expected"),
    [("127.0.0.1", True), ("10.9.8.7", True), ("192.0.0.1", True), ("8.8.8.8", False)],
)
def test_embedded_ipv4_alone_decides(ipv4: str, expected: bool) -> None:
    value = int(ipaddress.IPv4Address(ipv4))
    forms = {
        "IPv4-mapped": ipaddress.IPv6Address((0xFFFF << 32) | value),
        "NAT64": ipaddress.IPv6Address((0x64FF9B << 96) | value),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1),
    }
    assert {name for name, _, _ in EMBEDDING_V6} == set(forms)
    for name, address in forms.items():
        assert is_forbidden_address(str(address)) is expected, name


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://example.com/x", "example.com"),
        ("https://EXAMPLE.com:8443/x", "example.com"),
        ("https://LOCALHOST/", "localhost"),
        ("https://127.0.0.1./", "127.0.0.1."),
        ("https://0X7F.1/", "0x7f.1"),
        ("https://[::1]:9443/", "::1"),
        ("https://[::FFFF:127.0.0.1]/", "::ffff:127.0.0.1"),
        ("https://[fe80::1%25eth0]/", "fe80::1%eth0"),
        ("https://café.example/", "xn--caf-dma.example"),
        ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11:9443/x", "127.0.0.1"),
        ("https://127\u30020\u30020\u30021/", "127.0.0.1"),
        ("https://127\uff0e0\uff0e0\uff0e1/", "127.0.0.1"),
        ("https://127\uff610\uff610\uff611/", "127.0.0.1"),
        ("https://\u2460\u2461\u2466.0.0.1/", "127.0.0.1"),
        ("https://\u246f\u2468.\u2461\u2464\u2463.0.0/", "169.254.0.0"),  # ⑯⑨.②⑤④
        ("https://\uff11\uff12\uff17.\uff11/", "127.1"),
        ("https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/", "localhost"),
        ("https://127.0.0.1\u3002/", "127.0.0.1."),
        ("https://\u2160\u2161.com/", "iii.com"),  # Roman numerals one and two: letters, not digits
        ("https://a\u00ad.com/", None),
        ("https://ex\u200bample.com/", None),
        ("https:///path", None),
    ],
)
def test_connect_host_is_the_host_the_client_connects_to(url: str, host: str | None) -> None:
    assert connect_host(url) == host


# Shorthand IPv4 decoded exactly: a slip in the decoding moves a public address into a
# forbidden range (or back), so each row is public-vs-forbidden by one byte.
@pytest.mark.parametrize(
    ("host", "forbidden"),
    [
        ("8.8.010.8", False),  # 8.8.8.8 (an octal label among decimal ones)
        ("0x8.8.8.8", False),  # 8.8.8.8
        ("0x.8.8.8", True),  # 0.8.8.8 ("0x" alone is zero)
        ("8.526344", False),  # 8.8.8.8 (the last label fills three bytes)
        ("134744072", False),  # 8.8.8.8
        ("10.255.0.010", True),  # 10.255.0.8: 255 is still one byte
        # Not addresses at all (a label over its bytes), so names: a decoder that let the
        # extra bits carry would land in 10.0.0.0/8.
        ("9.256.0.1", False),
        ("10.0.0.256", False),
        ("9.255.256.1", False),
        ("9.255.255.256", False),
        ("10.0.0.1.0", False),  # five labels
        # 256 is not a byte even where OR-ing it in would look harmless: 126 | 1 is 127.
        ("126.256.0.1", False),
        ("126.256.1", False),
    ],
)
def test_shorthand_ipv4_is_decoded_exactly(host: str, forbidden: bool) -> None:
    url = f"https://{host}/x"
    if forbidden:
        with pytest.raises(InvalidInput, match="must not target a private"):
            check_callback_url(url, UrlPolicy())
    else:
        assert check_callback_url(url, UrlPolicy()) == url
