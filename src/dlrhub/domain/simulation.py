"""Deterministic outcomes for simulated messages (SPEC §10).

The destination's last four digits pick the outcome, so integrators can exercise every
branch of their webhook handler without a carrier.
"""

from __future__ import annotations

from dlrhub.domain.status import READ_CHANNELS, Channel, MessageStatus

__all__ = ["simulated_error", "simulated_outcome", "simulated_read_follows"]

_ERROR_SUFFIX = "0006"
_EXPIRED_SUFFIX = "0008"
_NEVER_READ_SUFFIX = "0003"


def simulated_outcome(destination: str) -> MessageStatus:
    """Return the final status a simulated message to ``destination`` reaches."""
    if destination.endswith(_ERROR_SUFFIX):
        return MessageStatus.ERROR
    if destination.endswith(_EXPIRED_SUFFIX):
        return MessageStatus.EXPIRED
    return MessageStatus.DELIVERED


def simulated_error(status: MessageStatus) -> str | None:
    """Return the ``error`` text reported with a simulated ``status``."""
    if status == MessageStatus.ERROR:
        return "Simulated: recipient unreachable"
    if status == MessageStatus.EXPIRED:
        return "Simulated: validity period expired"
    return None


def simulated_read_follows(destination: str, channel: Channel, outcome: MessageStatus) -> bool:
    """Return whether a simulated delivered message is then reported as READ."""
    return (
        outcome == MessageStatus.DELIVERED
        and channel in READ_CHANNELS
        and not destination.endswith(_NEVER_READ_SUFFIX)
    )
