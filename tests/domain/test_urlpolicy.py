from __future__ import annotations

import pytest

from dlrhub.domain.errors import FieldError, InvalidInput
from dlrhub.domain.urlpolicy import UrlPolicy, check_callback_url, is_forbidden_address

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
        ("not-an-ip", True),  # unjudgeable: refuse
        ("", True),
    ],
)
def test_is_forbidden_address(ip: str, expected: bool) -> None:
    assert is_forbidden_address(ip) is expected
