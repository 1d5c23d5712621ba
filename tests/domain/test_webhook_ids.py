"""How the API names a webhook: its row id, or `delivery-status` for the account's one."""

from __future__ import annotations

import pytest

from dlrhub.domain.routing import DELIVERY_STATUS_ID, public_webhook_id


@pytest.mark.parametrize(
    ("row_id", "is_delivery_status", "public"),
    [
        ("01a22554-0000-7000-8000-000000000001", True, "delivery-status"),
        ("01a22554-0000-7000-8000-000000000001", False, "01a22554-0000-7000-8000-000000000001"),
        ("delivery-status", False, "delivery-status"),
    ],
)
def test_public_webhook_id(row_id: str, is_delivery_status: bool, public: str) -> None:
    assert public_webhook_id(row_id, is_delivery_status=is_delivery_status) == public


def test_the_name_is_the_one_in_the_api_paths() -> None:
    assert DELIVERY_STATUS_ID == "delivery-status"
