"""The daemon's periodic look at where it stands against the broker, whether records come or not.

Once per ``kafka.request_timeout_ms`` the daemon compares its position on every assigned partition
with the broker's end offset. That gives three things a per-batch view cannot:

* the lag of every assigned partition, paused or starved ones too (a batch sets it only for the
  partitions it holds, so one partition never fetched showed no lag at all);
* whether it is caught up: nothing waits on any partition it reads. A replica whose partitions carry
  no records (more partitions than keyed assets) processes nothing and is still healthy;
* stalled partitions, which it answers by replacing its consumer: records wait on a partition it
  reads, and either nothing at all was fetched for a whole period, or that partition's position has
  not moved over two periods while others were read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

__all__ = ["PositionWatch", "positions_waiting"]

log = logging.getLogger("pipeline.daemon")

UNMOVED_CHECKS = 2


def positions_waiting(
    consumer: KafkaConsumer, partitions: list[TopicPartition], timeout_ms: int
) -> dict[TopicPartition, tuple[int, int]] | None:
    """Per partition, ``(position, records the broker holds past it)`` (partitions without a position
    left out); None when the broker cannot be asked."""
    try:
        ends = consumer.end_offsets(partitions, timeout_ms=timeout_ms)
        positions = {tp: consumer.position(tp, timeout_ms=timeout_ms) for tp in ends}
    except KafkaError as exc:
        log.warning("cannot compare positions with the broker's end offsets: %s", exc)
        return None
    return {tp: (at, max(0, ends[tp] - at)) for tp, at in positions.items() if at is not None}


@dataclass
class PositionWatch:
    """When the next look is due, and how many looks each waiting partition's position stood still.

    Example
    -------
    >>> watch = PositionWatch(period_s=30.0)
    >>> tp = TopicPartition("in", 0)
    >>> watch.stalled({tp: (100, 5)}, paused=set(), idle_s=1.0)  # records wait: not caught up
    {}
    >>> watch.stalled({tp: (100, 9)}, paused=set(), idle_s=1.0)  # still at 100 after one look
    {}
    >>> watch.stalled({tp: (100, 12)}, paused=set(), idle_s=1.0)  # and after two
    {TopicPartition(topic='in', partition=0): 12}
    >>> watch.stalled({tp: (140, 0)}, paused=set(), idle_s=1.0) is None  # caught up
    True
    """

    period_s: float
    last_at: float = -1e18
    _unmoved: dict[TopicPartition, tuple[int, int]] = field(default_factory=dict)

    def due(self, now: float) -> bool:
        """True (and the next look set a period ahead) when a period passed since the last look."""
        if now - self.last_at < self.period_s:
            return False
        self.last_at = now
        return True

    def restart(self, now: float) -> None:
        """Forget what was seen (a new consumer) and look again a period after ``now``."""
        self._unmoved.clear()
        self.last_at = now

    def stalled(
        self, found: dict[TopicPartition, tuple[int, int]], paused: set[TopicPartition], idle_s: float
    ) -> dict[TopicPartition, int] | None:
        """From one look: None when nothing waits on a partition being read (caught up); else the
        stalled partitions with their waiting records (empty when none is stalled). ``idle_s``: how
        long ago the consumer last fetched any record."""
        waiting = {tp: pos_count for tp, pos_count in found.items() if pos_count[1] and tp not in paused}
        before, self._unmoved = self._unmoved, {}
        for tp, (position, _) in waiting.items():
            prev = before.get(tp)
            self._unmoved[tp] = (position, prev[1] + 1 if prev is not None and prev[0] == position else 0)
        if not waiting:
            return None
        if idle_s >= self.period_s:
            return {tp: count for tp, (_, count) in waiting.items()}
        return {tp: waiting[tp][1] for tp, (_, still) in self._unmoved.items() if still >= UNMOVED_CHECKS}
