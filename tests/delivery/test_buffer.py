from __future__ import annotations

from datetime import UTC, datetime

from dlrhub.delivery.buffer import JobBuffer
from dlrhub.store.records import DeliveryJob, WebhookRecord

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def job(webhook: str, n: int) -> DeliveryJob:
    hook = WebhookRecord(
        id=webhook, account_id="a", kind="delivery_status", url="https://x", product=None,
        report_type=None, method="JSON", waba_number=None, parameters={}, custom_params={},
        custom_headers={}, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    return DeliveryJob(f"{webhook}-{n}", 0, "a", f"e{n}", "DELIVERY", "{}", hook, {})


def test_take_is_round_robin_and_respects_per_webhook_slots() -> None:
    buffer = JobBuffer()
    buffer.add([job("big", i) for i in range(10)])
    buffer.add([job("small", i) for i in range(2)])
    taken = buffer.take(lambda webhook: 3, limit=100)
    assert [j.delivery_id for j in taken] == ["big-0", "big-1", "big-2", "small-0", "small-1"]
    assert len(buffer) == 7
    assert buffer.held("big") == 7
    assert buffer.held("small") == 0


def test_global_limit_and_rotation() -> None:
    buffer = JobBuffer()
    buffer.add([job("a", i) for i in range(3)] + [job("b", i) for i in range(3)])
    first = buffer.take(lambda webhook: 10, limit=2)
    second = buffer.take(lambda webhook: 10, limit=2)
    assert [j.delivery_id for j in first] == ["a-0", "a-1"]
    assert [j.delivery_id for j in second] == ["b-0", "b-1"]  # b's turn comes next


def test_blocked_webhook_keeps_its_jobs_and_drop_returns_them() -> None:
    buffer = JobBuffer()
    buffer.add([job("stuck", 0), job("ok", 0)])
    taken = buffer.take(lambda webhook: 0 if webhook == "stuck" else 1, limit=10)
    assert [j.delivery_id for j in taken] == ["ok-0"]
    assert [j.delivery_id for j in buffer.drop("stuck")] == ["stuck-0"]
    assert len(buffer) == 0
    assert buffer.drain() == []
