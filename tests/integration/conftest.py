"""Fixtures shared by the integration tests."""

from tests.integration.carrier_support import carrier_api, key

__all__ = ["carrier_api", "key"]
