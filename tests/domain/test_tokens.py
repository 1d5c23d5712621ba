"""The stored form of API keys and dashboard session tokens: one rule for both."""

from __future__ import annotations

import pytest

from dlrhub.domain.tokens import token_digest


@pytest.mark.parametrize(
    ("token", "digest"),
    [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ],
)
def test_token_digest_is_sha256_hex(token: str, digest: str) -> None:
    assert token_digest(token) == digest
