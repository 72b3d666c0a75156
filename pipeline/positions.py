"""The daemon's periodic look at where it stands against the broker, whether records come or not.

Once per ``kafka.request_timeout_ms`` the daemon compares its position on every assigned partition
with the broker's end offset. That gives what a per-batch view cannot:

* the lag of every assigned partition, paused or starved ones too (a batch sets it only for the
  partitions it holds, so one partition never fetched showed no lag at all);
* whether it is caught up: it holds partitions, knows its position on each, and nothing waits on
  any. A replica whose partitions carry no records (more partitions than keyed assets) processes
  nothing and is still healthy;
* a stall, which it answers by replacing its consumer: records wait on a partition it reads, and
  either the consumer fetched nothing at all for a whole period (decided only on a look after an
  empty poll, as a slow batch is no stall), or not one partition with records waiting has moved over
  two periods. kafka-python hands out one partition's fetched records before the next one's, so while
  it works through a backlog some partitions keep their position for minutes, but one of them moves;
  when none does, the fetches of those partitions are stuck (one broker that does not answer starves
  the partitions it leads while the others deliver).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

__all__ = ["PositionWatch", "caught_up", "positions_waiting", "stalled"]

log = logging.getLogger("pipeline.daemon")


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
    """When the next look is due.

    Example
    -------
    >>> tp = TopicPartition("in", 0)
    >>> caught_up({tp: (140, 0)}, {tp}), caught_up({tp: (100, 5)}, {tp}), caught_up({}, set())
    (True, False, False)
    >>> stalled({tp: (100, 12)}, paused=set()), stalled({tp: (100, 12)}, paused={tp})
    ({TopicPartition(topic='in', partition=0): 12}, {})
    """

    period_s: float
    last_at: float = -1e18
    _still: dict[TopicPartition, tuple[int, int]] = field(default_factory=dict)  # position, looks unmoved

    def unmoved(
        self,
        found: dict[TopicPartition, tuple[int, int]],
        paused: set[TopicPartition],
        fetched: frozenset[TopicPartition] | set[TopicPartition] = frozenset(),
    ) -> dict[TopicPartition, int]:
        """The partitions with records waiting when not one of them has moved, nor been returned by a
        poll (``fetched``: a batch rewound after a failed delivery comes back to the same position),
        over two periods (each with its waiting records), else nothing: a look's verdict on a partial
        stall.

        >>> tp, other = TopicPartition("in", 0), TopicPartition("in", 1)
        >>> watch = PositionWatch(30.0)
        >>> [watch.unmoved({tp: (100, 9), other: (7, 0)}, set()) for _ in range(3)][-1]
        {TopicPartition(topic='in', partition=0): 9}
        >>> watch.unmoved({tp: (100, 9), other: (7, 4)}, set())  # another waits, not yet seen unmoved
        {}
        """
        waiting = stalled(found, paused)
        before, self._still = self._still, {}
        for tp in waiting:
            position = found[tp][0]
            prev = before.get(tp)
            same = prev is not None and prev[0] == position and tp not in fetched
            self._still[tp] = (position, prev[1] + 1 if same else 0)
        if waiting and all(looks >= 2 for _, looks in self._still.values()):
            return waiting
        return {}

    def restart(self, now: float) -> None:
        """A new consumer: forget the positions seen, and look again a period after ``now``."""
        self._still.clear()
        self.last_at = now

    def due(self, now: float) -> bool:
        """True (and the next look set a period ahead) when a period passed since the last look."""
        if now - self.last_at < self.period_s:
            return False
        self.last_at = now
        return True


def caught_up(found: dict[TopicPartition, tuple[int, int]], assignment: set[TopicPartition]) -> bool:
    """Whether the daemon holds partitions, knows its position on every one, and nothing waits."""
    return bool(assignment) and set(found) >= assignment and not any(count for _, count in found.values())


def stalled(
    found: dict[TopicPartition, tuple[int, int]], paused: set[TopicPartition]
) -> dict[TopicPartition, int]:
    """The partitions being read (not paused) with records waiting, and how many."""
    return {tp: count for tp, (_, count) in found.items() if count and tp not in paused}
