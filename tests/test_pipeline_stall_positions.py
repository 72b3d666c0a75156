"""The stall check's own read of the consumer's positions (:meth:`StallHandling._own_positions`) asks
the broker nothing: kafka-python's public ``position()`` fetches the group's committed offsets for
every assigned partition without a position, and starts offset resets and validations, even when
given no time to wait; a look made between two polls must not."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kafka import TopicPartition
from kafka.consumer.subscription_state import SubscriptionState

from pipeline.stalls import StallHandling

KNOWN, UNKNOWN, GONE = (TopicPartition("in", p) for p in range(3))


class _Consumer:
    """kafka-python's own subscription state of a consumer holding ``KNOWN`` (at offset 42) and
    ``UNKNOWN`` (no position yet); its public ``position()`` records each call."""

    def __init__(self) -> None:
        self._subscription = SubscriptionState()
        self._subscription.assign_from_user([KNOWN, UNKNOWN])
        self._subscription.seek(KNOWN, 42)
        self.asked: list[TopicPartition] = []

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        self.asked.append(tp)
        pytest.fail("the stall check must not call the consumer's position(): it may send requests")


def test_the_stall_check_reads_positions_from_the_subscription_state_without_a_request() -> None:
    consumer = _Consumer()
    daemon = SimpleNamespace(consumer=consumer)
    found = StallHandling._own_positions(daemon, {KNOWN, UNKNOWN, GONE})  # type: ignore[arg-type]
    # Known: read as it is; not known yet, or no longer assigned: left out, nothing asked.
    assert found == {KNOWN: 42}
    assert consumer.asked == []


def test_a_consumer_without_that_state_is_asked_with_no_time_to_wait() -> None:
    calls: list[int | None] = []

    def position(tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        calls.append(timeout_ms)
        return 7 if tp == KNOWN else None

    daemon = SimpleNamespace(consumer=SimpleNamespace(position=position))
    assert StallHandling._own_positions(daemon, {KNOWN, UNKNOWN}) == {KNOWN: 7}  # type: ignore[arg-type]
    assert calls == [0, 0]
