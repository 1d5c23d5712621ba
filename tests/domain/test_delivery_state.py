"""Delivery states and the sets that give them meaning, each defined once."""

from __future__ import annotations

import pytest

from dlrhub.domain.delivery_state import (
    ATTEMPT_OUTCOMES,
    DELIVERY_STATES,
    FINISHED,
    REPLAYABLE,
    SENDABLE,
    DeliveryState,
    sql_state_list,
)


@pytest.mark.parametrize(
    ("state", "sendable", "replayable", "finished", "an_attempt_outcome"),
    [
        (DeliveryState.PENDING, True, False, False, False),
        (DeliveryState.SUCCEEDED, False, False, True, True),
        (DeliveryState.FAILED, True, True, False, True),
        (DeliveryState.DEAD, False, True, True, True),
        (DeliveryState.CANCELLED, False, False, True, False),
    ],
)
def test_what_each_state_means(
    state: DeliveryState, sendable: bool, replayable: bool, finished: bool, an_attempt_outcome: bool
) -> None:
    assert (state in SENDABLE) is sendable
    assert (state in REPLAYABLE) is replayable
    assert (state in FINISHED) is finished
    assert (state in ATTEMPT_OUTCOMES) is an_attempt_outcome


def test_the_stored_values_and_the_order_the_api_lists_them_in() -> None:
    assert list(DELIVERY_STATES) == ["pending", "succeeded", "failed", "dead", "cancelled"]


@pytest.mark.parametrize(
    ("states", "sql"),
    [
        (SENDABLE, "('pending', 'failed')"),
        (FINISHED, "('succeeded', 'dead', 'cancelled')"),
        ((DeliveryState.DEAD,), "('dead')"),
    ],
)
def test_sql_state_list_is_the_partial_index_spelling(
    states: tuple[DeliveryState, ...], sql: str
) -> None:
    assert sql_state_list(states) == sql
