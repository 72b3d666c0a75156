"""Up to when each partition is read: the time its assets' silence is judged at.

An asset is silent once it sent nothing for ``alerts.quiet_s``, but the daemon knows only what it has
read. After a restart, a rebalance or an outage, kafka-python hands out a backlog one partition at a
time, and while one partition drains the readings of another wait unread: judged at the present, that
partition's assets would look silent (open episodes resolved as ``silence``, per-asset series dropped)
while they send as usual. So each partition's assets are judged at the partition's *read-through
time*: the latest time up to which every record of it is known to be processed.

The daemon learns it from its periodic look at the positions (:mod:`pipeline.positions`). A look at
time ``L`` that finds nothing waiting on a partition makes ``L`` its read-through time at once; one
that finds records waiting notes the partition's end offset then, and ``L`` becomes the read-through
time once the records up to that end are processed (delivered, so a batch undone does not count).
Only one such end is noted per partition at a time: the next look after it is reached notes the next.

So a partition that carries nothing is judged at the last look, a busy one that is always a little
behind at the last look whose records it has since read (a poll or so later), and one with a backlog
at the last look before the backlog, until the backlog is read. On a partition that keeps up, silence
is judged about one look period (``kafka.request_timeout_ms``) late at most; on one that does not, as
late as its backlog. A partition this daemon never looked at is not judged at all: after a restart or
an assignment, until the first look (a period) and the records it found waiting are read.

Without looks the daemon cannot tell a backlog from silence. Should the broker not answer them (it
serves fetches but not the end offsets), the
read-through times would stay where they were and no asset would be judged silent, nor forgotten, for
as long as that lasts. So once the looks have failed for ``give_up_s`` (the daemon passes
``alerts.quiet_s``), every partition is judged as of the last failed look, as if nothing waited then,
until a look comes back. Only looks made count: while none is made (a join under way holds the stall
clock, and the daemon reads nothing), the failing looks neither add up nor move that time on, so
readings that wait unread meanwhile are no silence. A look that gets answers for some partitions and
not others (one without a leader: :func:`~pipeline.endoffsets.positions_waiting` asks each leader on
its own) moves the others on as usual, and gives up on those alone after ``give_up_s``.

Example
-------
>>> reads = ReadThrough()
>>> reads.until(("in", 0), now=50.0)  # never looked at
-inf
>>> reads.looked({("in", 0): (120, 0), ("in", 1): (40, 900)}, now=60.0)
>>> reads.until(("in", 0), now=70.0), reads.until(("in", 1), now=70.0)
(60.0, -inf)
>>> reads.read({("in", 1): 500}); reads.until(("in", 1), now=80.0)  # 400 still wait
-inf
>>> reads.read({("in", 1): 940}); reads.until(("in", 1), now=80.0)  # all that waited at 60 s read
60.0
>>> reads.until(("in", 1), now=30.0)  # never later than now
30.0
>>> reads = ReadThrough(give_up_s=300.0)
>>> reads.failed(now=100.0), reads.failed(now=399.0), reads.until(("in", 0), now=399.0)
(False, False, -inf)
>>> reads.until(("in", 0), now=900.0)  # no look made since: nothing more is judged
-inf
>>> reads.failed(now=400.0), reads.until(("in", 0), now=410.0)  # no answer for 300 s: the last look
(True, 400.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["ReadThrough"]

Partition = Sequence  # a (topic, partition) pair: a tuple or kafka's TopicPartition


class ReadThrough:
    """Per partition, the read-through time and the end offset that will move it on (see the module);
    times are the hysteresis's clock (:class:`~pipeline.heldclock.HeldClock`)."""

    def __init__(self, give_up_s: float = math.inf) -> None:
        self.give_up_s = give_up_s
        self._at: dict[tuple[str, int], float] = {}
        self._next: dict[tuple[str, int], tuple[float, int]] = {}  # (look time, end offset then)
        self._failing_since: float | None = None  # the first of the looks failing since the last answer
        self._failed_at = -math.inf  # the last of them
        self._told = False  # whether failed() said that they have failed for give_up_s
        # Partitions a look that answered for others left out (no leader): (first, last) such look.
        self._unanswered: dict[tuple[str, int], tuple[float, float]] = {}

    def looked(self, found: Mapping[Partition, tuple[int, int]], now: float) -> None:
        """A look begun at ``now`` found ``(position, records waiting past it)`` per partition
        (:func:`~pipeline.endoffsets.positions_waiting`); ``now`` must be taken before the broker
        was asked, so that every record written before it lies below the end it answered."""
        self._failing_since = None
        for tp, (position, waiting) in found.items():
            key = (tp[0], tp[1])
            self._unanswered.pop(key, None)
            self.read({key: position})
            if not waiting:
                self._at[key] = now
                self._next.pop(key, None)
            elif key not in self._next:
                self._next[key] = (now, position + waiting)
            elif position + waiting < self._next[key][1]:  # the log was cut below the end noted
                self._next[key] = (self._next[key][0], position + waiting)

    def failed(self, now: float) -> bool:
        """A look begun at ``now`` got no answer; True when that makes ``give_up_s`` of them, so
        that partitions are judged as of each failed look from now on (see the module)."""
        if self._failing_since is None:
            self._failing_since, self._told = now, False
        self._failed_at = now
        newly = self.blind() and not self._told
        self._told = self._told or newly
        return newly

    def unanswered(self, partitions: Iterable[Partition], now: float) -> list[tuple[str, int]]:
        """A look begun at ``now`` got answers for other partitions, not for ``partitions`` (no leader):
        each of them is judged as of its last such look once they have lasted ``give_up_s``, as a whole
        look failing would have every partition judged. The partitions that makes so now.

        >>> reads = ReadThrough(give_up_s=300.0)
        >>> reads.unanswered([("in", 1)], now=100.0), reads.unanswered([("in", 1)], now=400.0)
        ([], [('in', 1)])
        >>> reads.until(("in", 1), now=410.0), reads.until(("in", 0), now=410.0)
        (400.0, -inf)
        """
        newly = []
        for tp in partitions:
            key = (tp[0], tp[1])
            first, last = self._unanswered.get(key, (now, now))
            if last - first < self.give_up_s <= now - first:
                newly.append(key)
            self._unanswered[key] = (first, now)
        return newly

    def blind(self) -> bool:
        """Whether the looks made since the last answer have failed over ``give_up_s``."""
        since = self._failing_since
        return since is not None and self._failed_at - since >= self.give_up_s

    def read(self, offsets: Mapping[Partition, int]) -> None:
        """Every record before ``offsets`` (per partition, the next to process) is processed."""
        for tp, offset in offsets.items():
            key = (tp[0], tp[1])
            pending = self._next.get(key)
            if pending is not None and offset >= pending[1]:
                self._at[key] = max(self._at.get(key, -math.inf), pending[0])
                del self._next[key]

    def until(self, tp: Partition, now: float) -> float:
        """The time at which the silence of ``tp``'s assets is judged: its read-through time, at most
        ``now``; ``-inf`` for a partition never looked at; the last failed look while they fail
        (:meth:`blind`)."""
        if self.blind():
            return min(now, self._failed_at)
        key = (tp[0], tp[1])
        first, last = self._unanswered.get(key, (0.0, -math.inf))
        if last - first >= self.give_up_s:
            return min(now, last)
        return min(now, self._at.get(key, -math.inf))

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Partitions no longer this daemon's: they start unknown if they come back."""
        for tp in partitions:
            key = (tp[0], tp[1])
            self._at.pop(key, None)
            self._next.pop(key, None)
            self._unanswered.pop(key, None)
