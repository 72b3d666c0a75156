"""The daemon's periodic look at where it stands against the broker, whether records come or not.

Once per ``kafka.request_timeout_ms`` the daemon compares its position on every assigned partition
with the broker's end offset (:func:`pipeline.endoffsets.positions_waiting`). That gives what a
per-batch view cannot:

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
  the partitions it leads while the others deliver). A partition whose position stays unknown for a
  period is stalled too: kafka-python fetches only from a known position;
* one partition stuck while others deliver: records wait on it, and its position has not moved (nor
  has a poll returned its records) while the records fetched ahead of it were handed out. A healthy
  consumer leaves a partition standing only while the records already fetched for others go first:
  kafka-python hands out fetched records in the order the fetches came, one partition's at a time, so
  once a partition stood still for a period (its fetch, answered within that time, is in line), what
  lies ahead of it is at most what waited on the other partitions then. So the look that finds it
  standing for a period notes the other partitions' end offsets; once each of them has been read past
  its noted end (or stands still itself, or went to another member), and a period more has passed, it
  is stuck. One the broker gives no end offset for (no leader) is judged by the consumer's own
  position: read past its noted end, or neither moved nor polled for a period.

A replacement for partitions that stood still and did not help (a broker that answers for their end
offsets and never for their fetches) would rebalance the whole group every few periods for as long as
the fault lasts. So once the partitions judged have all stood still through a replacement, they are
judged again only a hold-off after it: :data:`HOLD_OFF_PERIODS` periods, doubled after each
replacement that did not help up to :data:`HOLD_OFF_MAX` times that. A partition moving (or nothing
waiting on it), or leaving this consumer, is no longer held off, the others still are; once none is
left the hold-off starts again from :data:`HOLD_OFF_PERIODS`. Other partitions stuck are judged as
ever.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kafka import TopicPartition

__all__ = [
    "HOLD_OFF_MAX",
    "HOLD_OFF_PERIODS",
    "PositionWatch",
    "caught_up",
    "stalled",
]

# The hold-off after a replacement for partitions standing still, in look periods; it doubles while
# replacements do not help, up to HOLD_OFF_MAX times that.
HOLD_OFF_PERIODS = 10
HOLD_OFF_MAX = 8


@dataclass
class PositionWatch:
    """When the next look is due, and the stall timers of the partitions looked at.

    Progress resets a partition's timers (its position moved, a poll returned its records, nothing
    waits on it), an assignment does not: kafka-python revokes every partition on every rebalance and
    mostly hands the same ones back, so a consumer that never fetches through a rebalance storm is
    judged like any other. A partition gets one grace period of ``period_s`` when it comes to this
    consumer (its first assignment, or back after a period assigned elsewhere: :meth:`rejoined`).
    The times given are the daemon's stall clock, which stands still while a rebalance is under way.

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
    # position, looks unmoved, since when (the first look that found it there with records waiting)
    _still: dict[TopicPartition, tuple[int, int, float]] = field(default_factory=dict)
    _unknown_since: dict[TopicPartition, float] = field(default_factory=dict)  # no position since
    _granted: dict[TopicPartition, float] = field(default_factory=dict)  # grace period from
    _left: dict[TopicPartition, float] = field(default_factory=dict)  # assigned elsewhere since
    # Partitions that stood still through a replacement made for them, and the hold-off (see the module).
    _suspects: set[TopicPartition] = field(default_factory=set)
    _hold_off_s: float = 0.0
    # Per partition standing still for a period: when the look noted it, the end offsets of the other
    # partitions with records waiting then that have not been read past it yet, and when the last one was.
    _notes: dict[TopicPartition, tuple[float, dict[TopicPartition, int], float]] = field(default_factory=dict)
    # Partitions the last look had no end offset for (no leader): the consumer's own position on each,
    # and since when it has neither moved nor been polled (:meth:`_note`).
    _local: dict[TopicPartition, tuple[int, float]] = field(default_factory=dict)
    _replaced_at: float = -math.inf

    def unmoved(
        self,
        found: dict[TopicPartition, tuple[int, int]],
        paused: set[TopicPartition],
        fetched: frozenset[TopicPartition] | set[TopicPartition] = frozenset(),
        now: float = 0.0,
        local: dict[TopicPartition, int] | None = None,
    ) -> dict[TopicPartition, int]:
        """The partitions with records waiting when not one of them has moved, nor been returned by a
        poll (``fetched``: a batch rewound after a failed delivery comes back to the same position),
        over two periods (each with its waiting records), else nothing: a look's verdict on a partial
        stall. A partition missing from ``found`` (its position unknown, or revoked for a rebalance)
        keeps its count. ``local``: the consumer's own positions on the partitions this look got no
        end offset for (they still tell whether a partition was read past an end noted for it).

        >>> tp, other = TopicPartition("in", 0), TopicPartition("in", 1)
        >>> watch = PositionWatch(30.0)
        >>> [watch.unmoved({tp: (100, 9), other: (7, 0)}, set()) for _ in range(3)][-1]
        {TopicPartition(topic='in', partition=0): 9}
        >>> watch.unmoved({tp: (100, 9), other: (7, 4)}, set())  # another waits, not yet seen unmoved
        {}
        >>> watch.unmoved({other: (7, 4)}, set()), watch.unmoved({tp: (100, 9), other: (7, 4)}, set())
        ({}, {TopicPartition(topic='in', partition=0): 9, TopicPartition(topic='in', partition=1): 4})
        """
        waiting = stalled(found, paused)
        for tp in set(found) - set(waiting):  # caught up, or paused
            self._still.pop(tp, None)
            if tp not in paused:  # (one a new consumer read to its end before its first look too)
                self._moved(tp)
        for tp in waiting:
            position = found[tp][0]
            prev = self._still.get(tp)
            if prev is not None and prev[0] == position and tp not in fetched:
                self._still[tp] = (position, prev[1] + 1, prev[2])
                continue
            self._still[tp] = (position, 0, now)
            if prev is not None or tp in fetched:
                self._moved(tp)
        self._note(found, paused, waiting, now, local or {}, fetched)
        if waiting and all(self._still[tp][1] >= 2 for tp in waiting):
            return waiting
        return {}

    def _note(
        self,
        found: dict[TopicPartition, tuple[int, int]],
        paused: set[TopicPartition],
        waiting: dict[TopicPartition, int],
        now: float,
        local: dict[TopicPartition, int],
        fetched: frozenset[TopicPartition] | set[TopicPartition],
    ) -> None:
        """Note the others' ends for each partition standing still a period, and strike those read past.

        A partition without an end offset at this look (no leader) is struck off by the consumer's own
        position: once read past its end, or once it has neither moved nor been polled for a period
        (none of its records can be in line ahead any more). Else one whose leader stays missing would
        keep the partitions noted beside it from being judged for as long as that lasts."""
        for tp in list(self._notes):
            if tp not in waiting or self._still[tp][2] > self._notes[tp][0]:  # it moved, or nothing waits
                del self._notes[tp]
        for tp in set(self._local) - set(local):
            del self._local[tp]
        for tp, at in local.items():
            seen = self._local.get(tp)
            if seen is None or seen[0] != at or tp in fetched:
                self._local[tp] = (at, now)

        def passed_by(other: TopicPartition, end: int) -> bool:
            if other in paused:
                return True
            if other in found:
                return found[other][0] >= end or not found[other][1]
            seen = self._local.get(other)
            return seen is not None and (seen[0] >= end or now - seen[1] >= self.period_s)

        for tp, (noted_at, ends, _) in self._notes.items():
            passed = {other for other, end in ends.items() if passed_by(other, end)}
            if passed:
                self._notes[tp] = (noted_at, {o: e for o, e in ends.items() if o not in passed}, now)
        for tp in waiting:
            if tp not in self._notes and now - self._still[tp][2] >= self.period_s:
                ends = {other: sum(found[other]) for other in waiting if other != tp}
                self._notes[tp] = (now, ends, -math.inf if ends else now)

    def stuck(self, waiting: dict[TopicPartition, int], now: float) -> dict[TopicPartition, float]:
        """Of ``waiting`` (partitions with records waiting at this look, after :meth:`unmoved`), those
        stuck (see the module), and for how long they have stood still: two periods at least, the
        others read past the ends noted for them a period ago at least, and the others not read past
        them standing still since the note.

        >>> tp, other = TopicPartition("in", 0), TopicPartition("in", 1)
        >>> watch = PositionWatch(30.0)
        >>> for at, read in ((0, 10), (30, 60), (60, 120), (90, 180)):  # 150 waited on the other at 30 s
        ...     _ = watch.unmoved({tp: (100, 9), other: (read, 200 - read)}, set(), now=float(at))
        >>> watch.stuck({tp: 9, other: 20}, 90.0)
        {}
        >>> _ = watch.unmoved({tp: (100, 9), other: (240, 10)}, set(), now=120.0)  # read past 200
        >>> watch.stuck({tp: 9, other: 10}, 120.0)
        {}
        >>> _ = watch.unmoved({tp: (100, 9), other: (300, 10)}, set(), now=150.0)  # a period on
        >>> watch.stuck({tp: 9, other: 10}, 150.0)
        {TopicPartition(topic='in', partition=0): 150.0}
        """
        found = {}
        for tp in waiting:
            note = self._notes.get(tp)
            if note is None or self.in_grace(tp, now):
                continue
            noted_at, ends, last_passed = note
            standing = all(o in self._still and self._still[o][2] <= noted_at for o in ends)
            since = self._still[tp][2]
            if standing and now - last_passed >= self.period_s and now - since >= 2 * self.period_s:
                found[tp] = now - since
        return found

    def held_off(self, partitions: dict[TopicPartition, int] | set[TopicPartition], now: float) -> bool:
        """Whether ``partitions`` all stood still through a replacement made for them less than the
        hold-off before ``now`` (see the module), so that they are not judged yet."""
        held = now - self._replaced_at < self._hold_off_s
        return bool(partitions) and set(partitions) <= self._suspects and held

    def replacing(self, partitions: dict[TopicPartition, int] | set[TopicPartition], now: float) -> float:
        """The consumer is replaced at ``now`` for ``partitions`` standing still; the hold-off they get
        should the new consumer not move them either (doubled when the last one did not help).

        >>> tp, watch = TopicPartition("in", 0), PositionWatch(30.0)
        >>> [watch.replacing({tp}, 0.0) for _ in range(5)]
        [300.0, 600.0, 1200.0, 2400.0, 2400.0]
        >>> _ = watch.unmoved({tp: (5, 3)}, set(), {tp}); watch.replacing({tp}, 0.0)  # it moved: anew
        300.0
        """
        window = HOLD_OFF_PERIODS * self.period_s
        self._hold_off_s = min(2 * self._hold_off_s, HOLD_OFF_MAX * window) if self._suspects else window
        self._suspects |= set(partitions)
        self._replaced_at = now
        return self._hold_off_s

    def _moved(self, tp: TopicPartition) -> None:
        """``tp`` moved (or nothing waits on it): a replacement made for it helped."""
        self._suspects.discard(tp)
        if not self._suspects:
            self._hold_off_s = 0.0

    def waited(self, tp: TopicPartition) -> bool:
        """Whether the last look found records waiting on ``tp`` at the position where the look before
        found them waiting too (not one that came between the last poll and the look).

        >>> tp, watch = TopicPartition("in", 0), PositionWatch(30.0)
        >>> _ = watch.unmoved({tp: (100, 1)}, set()); watch.waited(tp)
        False
        >>> _ = watch.unmoved({tp: (100, 1)}, set()); watch.waited(tp)
        True
        """
        return self._still.get(tp, (0, 0))[1] >= 1

    def unknown(
        self,
        found: dict[TopicPartition, tuple[int, int]],
        assignment: set[TopicPartition],
        paused: set[TopicPartition],
        now: float,
        fetched: frozenset[TopicPartition] | set[TopicPartition] = frozenset(),
    ) -> set[TopicPartition]:
        """The partitions being read whose position has been unknown at every look for ``period_s``
        (kafka-python fetches only from a known position), after their grace period; a position known,
        a pause or records polled (``fetched``) start the timer again.

        >>> tp, watch = TopicPartition("in", 0), PositionWatch(30.0)
        >>> watch.rejoined({tp}, 0.0)
        >>> watch.unknown({}, {tp}, set(), 100.0), watch.unknown({}, {tp}, set(), 130.0)
        (set(), {TopicPartition(topic='in', partition=0)})
        >>> watch.unknown({tp: (5, 0)}, {tp}, set(), 140.0), watch.unknown({}, {tp}, set(), 169.0)
        (set(), set())
        """
        self.seen(assignment, now)
        for tp in set(self._unknown_since) & (set(found) | paused | set(fetched)):
            del self._unknown_since[tp]
        missing = assignment - set(found) - paused
        for tp in missing:
            self._unknown_since.setdefault(tp, now)
        return {
            tp
            for tp in missing
            if now - self._unknown_since[tp] >= self.period_s and not self.in_grace(tp, now)
        }

    def seen(self, assignment: set[TopicPartition], now: float) -> None:
        """A partition assigned and never granted a grace period gets one from ``now`` (the group can
        hand out an assignment before the daemon is told of it)."""
        for tp in assignment:
            if tp not in self._granted:
                self._grant(tp, now)

    def rejoined(self, assignment: set[TopicPartition], now: float) -> None:
        """The group's assignment came: a partition new here, or back after a period assigned
        elsewhere, gets its grace period from ``now``; one that comes straight back (each cycle of a
        rebalance storm) keeps the timers it had.

        >>> tp, watch = TopicPartition("in", 0), PositionWatch(30.0)
        >>> watch.rejoined({tp}, 100.0); watch.in_grace(tp, 129.0), watch.in_grace(tp, 130.0)
        (True, False)
        >>> watch.rejoined({tp}, 131.0); watch.in_grace(tp, 131.0)  # a storm: no new grace
        False
        >>> watch.rejoined(set(), 140.0); watch.rejoined({tp}, 175.0); watch.in_grace(tp, 200.0)
        True
        """
        for tp in assignment:
            left = self._left.pop(tp, None)
            if tp not in self._granted or (left is not None and now - left >= self.period_s):
                self._grant(tp, now)
        for tp in set(self._granted) - assignment:
            self._left.setdefault(tp, now)
        for tp in self._suspects - assignment:  # another member's to read now
            self._moved(tp)
        for tp, (noted_at, ends, _) in list(self._notes.items()):
            if set(ends) - assignment:  # another member's: nothing of it is handed out here any more
                self._notes[tp] = (noted_at, {o: e for o, e in ends.items() if o in assignment}, now)

    def _grant(self, tp: TopicPartition, at: float) -> None:
        self._granted[tp] = at
        self._left.pop(tp, None)
        self._still.pop(tp, None)
        self._unknown_since.pop(tp, None)
        self._notes.pop(tp, None)
        self._local.pop(tp, None)

    def in_grace(self, tp: TopicPartition, now: float) -> bool:
        """Whether ``tp`` came to this consumer less than ``period_s`` before ``now``."""
        return now - self._granted.get(tp, -math.inf) < self.period_s

    def restart(self, now: float) -> None:
        """A new consumer: forget the partitions seen (not the hold-off), and look again a period after
        ``now``."""
        for timers in (self._still, self._unknown_since, self._granted, self._left, self._notes, self._local):
            timers.clear()
        self.last_at = now

    def again_in(self, now: float, seconds: float) -> None:
        """The next look due ``seconds`` after ``now`` (or sooner, as it was)."""
        self.last_at = min(self.last_at, now - self.period_s + seconds)

    def overdue(self, now: float) -> float | None:
        """How long past its time the next look is at ``now`` (0 or more); None while it is not due."""
        late = now - self.last_at - self.period_s
        return late if late >= 0 else None

    def due(self, now: float) -> bool:
        """True (and the next look set a period ahead) when a period passed since the last look."""
        if self.overdue(now) is None:
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
