"""Which machines were warming up when a daemon takes partitions up afresh, read back from the input topic.

The warm-up (:mod:`pipeline.warmup`) knows a machine started from the standstill readings the daemon
read. A daemon that starts (a rollout, a crash) or takes a partition over from another member begins
at the committed offset with none of them: a machine started in the hour before read cold and, judged
as if running warm for long, opened an alert on its first readings, on every machine of the plant
started in that hour. So when partitions come without their state, the daemon reads back the input
topic's records before each one's committed offset (where it resumes), as far as ``alerts.warmup_s``
of Kafka time before the newest of them, and notes the standstill readings among them (:meth:`WarmUp.note
<pipeline.warmup.WarmUp.note>`), as it would have noted them scoring those records. Nothing is scored,
counted or published, and no offset moves.

The read holds up the next poll, so it gets the time the carry-over read left (:mod:`pipeline.rebalance`).
It reads each partition's records newest first, in chunks twice as large each time (the newest chunk of
every partition, then the next older one of each): cut short, it has read the latest standstills,
which end the warm-ups still running. It goes back to the offset the broker gives for the window's
start (``offsets_for_times``), and no further than a chunk none of whose records lies in the window: a
broker that answers that lookup with the partition's first offset (the embedded one does) costs a
chunk more, not the whole partition. It holds one poll's records at a time (the newest chunk, which
dates the window, whole), so a long window costs time, not memory. A partition not read back at all,
or read back only in part, is logged; its machines started before what was read are judged warm, as
before this read existed. A partition whose records carry no Kafka time is read back one chunk (the
newest :data:`FIRST_CHUNK` records): how far back the window goes is unknown. A partition with no
committed offset (a group new to the topic) is not read back.

Its readings are noted in time order once the read is over (:class:`ReadingNotes`), so that a silence
(``alerts.warmup_after_silence_s``) within the window is told as the daemon tells it live. An asset
silent from before the window's start shows no such silence in it: where the read met a record written
before the window (so the window lies inside the partition's log), an asset whose first reading in it
is running and comes over ``warmup_after_silence_s`` after the window's start is taken to have started
there.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from dhag.infotext import counted
from pipeline.brokerlink import new_consumer
from pipeline.config import KafkaSettings
from pipeline.endoffsets import left_ms

__all__ = ["FIRST_CHUNK", "ReadBack", "ReadingNotes", "read_back", "take_up"]

log = logging.getLogger(__name__)

#: Records in the first (newest) chunk read back of a partition; each earlier chunk is twice as large.
FIRST_CHUNK = 5000
_POLL_MS = 200


@dataclass
class ReadBack:
    """What :func:`read_back` read: records handed on, per partition; the partitions it read whole
    (back to the window's start or the partition's first record) and those it left unread or cut short."""

    records: dict[int, int] = field(default_factory=dict)
    whole: list[int] = field(default_factory=list)
    short: list[int] = field(default_factory=list)
    #: Of ``whole``, those whose read met a record written before the window: the window lies inside
    #: the partition's log, so an asset silent in it was silent from its start.
    reached: list[int] = field(default_factory=list)


def read_back(
    kafka: KafkaSettings,
    bootstrap_servers: str,
    ends: Mapping[TopicPartition, int],
    *,
    lookback_s: float,
    timeout_s: float,
    on_records: Callable[[list[Any]], None],
    stopping: Callable[[], bool] = lambda: False,
) -> ReadBack:
    """Hand ``on_records`` the records of each partition of ``ends`` (partition -> the offset its
    reading resumes at) before that offset, from ``lookback_s`` of Kafka time before the newest of them:
    the newest chunk of every partition first, then the next older one of each, each chunk in offset
    order. Stops when ``timeout_s`` has passed or once ``stopping()``, keeping what was read; the
    partitions not read whole are in :attr:`ReadBack.short`. Raises what the broker raises (a reader
    that cannot be made, offsets that cannot be read)."""
    deadline = time.monotonic() + timeout_s
    done = ReadBack()
    if not ends:
        return done
    consumer = new_consumer(kafka, bootstrap_servers, member=False)
    try:
        begins = consumer.beginning_offsets(sorted(ends), timeout_ms=_left_ms(deadline, stopping))
        windows = [_Window(tp, begins[tp], ends[tp]) for tp in sorted(ends)]
        try:
            while unread := [w for w in windows if w.high > w.floor]:
                for window in unread:
                    window.read_chunk(consumer, lookback_s, deadline, on_records, stopping)
        except KafkaTimeoutError:
            pass
        for window in windows:  # a chunk cut short counts what it handed on
            (done.whole if window.high <= window.floor else done.short).append(window.tp.partition)
            if window.high <= window.floor and window.reached:
                done.reached.append(window.tp.partition)
            if window.handed:
                done.records[window.tp.partition] = window.handed
        return done
    finally:
        consumer.close(autocommit=False, timeout_ms=_POLL_MS)


def take_up(daemon: Any, partitions: set[TopicPartition], deadline: float, *, floor_ms: int) -> bool:
    """Note the machines of ``partitions`` (come to ``daemon`` without their state: a
    :class:`~pipeline.rebalance.RebalanceHandling`) that stood still in the last ``alerts.warmup_s``
    before their committed offsets, read back (:func:`read_back`) in the time left before ``deadline``
    (time.monotonic()); with under ``floor_ms`` left it is not tried. Nothing for a model on raw sensors
    or with ``warmup_s: 0``. True when it asked the broker (the time the poll had is spent)."""
    mine = {tp for tp in partitions if tp.topic == daemon.kafka.topics.input}
    processor = daemon.processor
    warmup = processor.warmup
    if not mine or not warmup.warmup_s or processor.derived is None or daemon.consumer is None:
        return False
    numbers = sorted(tp.partition for tp in mine)
    topic = daemon.kafka.topics.input
    notes = ReadingNotes(processor.active)

    try:
        if left_ms(deadline) < floor_ms:
            raise KafkaTimeoutError("no time left before the next poll")
        # Where a partition resumes: its committed offset (the position may be past a batch polled with
        # the assignment, which the daemon rewinds); nothing committed (a new group): nothing to read.
        ends = {tp: daemon.consumer.committed(tp, timeout_ms=left_ms(deadline)) for tp in sorted(mine)}
        if not any(ends.values()):
            return True
        done = read_back(
            daemon.kafka,
            daemon.bootstrap_servers,
            {tp: end for tp, end in ends.items() if end},
            lookback_s=warmup.warmup_s,
            timeout_s=left_ms(deadline) / 1000,
            on_records=notes.add,
            stopping=daemon._stop.is_set,
        )
        still = notes.note(warmup, reached=done.reached, lookback_s=warmup.warmup_s)
    except Exception as exc:  # noqa: BLE001 - whatever the read met, scoring goes on without it
        if not daemon._stop.is_set():
            daemon.metrics.broker_failures.labels("carry_over").inc()
            log.warning(
                "partitions %s: cannot read back their machines' last standstills from %s, so a machine "
                "started there in the last %g s is judged warm (its cold readings may alert): %s",
                *(numbers, topic, warmup.warmup_s, exc),
            )
        return True
    log.info(
        "partitions %s: %s of their last %g s read back from %s, %d at standstill",
        *(numbers, counted(sum(done.records.values()), "record"), warmup.warmup_s, topic, still),
    )
    if done.short and not daemon._stop.is_set():
        log.warning(
            "partitions %s: read back only in part in the time left before the next poll (the newest "
            "records first): a machine started there before what was read is judged warm",
            done.short,
        )
    return True


class ReadingNotes:
    """The readings a read-back handed on, as ``active`` (:class:`~pipeline.hotswap.ActiveModel`, a plant
    model) parses them, kept compactly (asset, record time, at standstill) until :meth:`note` notes them
    in time order: chunks come newest first, and a silence (``WarmUp.silence_s``) is told only in order.
    Records it refuses are passed over.
    """

    def __init__(self, active: Any) -> None:
        self.active = active
        self._codes: dict[str, int] = {}
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, records: list[Any]) -> None:
        """Keep what ``records`` (consumer records) say: each reading's asset, time and standstill."""
        parsed = self.active.parse(records)
        if not parsed.indices or self.active.derived is None:
            return
        still = np.asarray(self.active.derived.standstill(parsed.matrix), dtype=bool)
        codes = np.fromiter(
            (self._codes.setdefault(a, len(self._codes)) for a in parsed.asset_ids),
            dtype=np.int64,
            count=len(parsed.asset_ids),
        )
        partitions = np.array([records[i].partition for i in parsed.indices], dtype=np.int64)
        self._parts.append((codes, np.asarray(parsed.timestamps, dtype=float), still, partitions))

    def note(self, warmup: Any, reached: Collection[int] = (), lookback_s: float = 0.0) -> int:
        """:meth:`WarmUp.note <pipeline.warmup.WarmUp.note>` every reading kept, in time order; how
        many were at standstill. With the warm-up's ``silence_s``, on the partitions ``reached`` (their
        read went back past the window's start, ``lookback_s`` before their newest reading), an asset
        whose first reading in the window is running and came over ``silence_s`` after that start was
        silent from before it: it is taken to have started at that reading."""
        if not self._parts:
            return 0
        codes, stamps, still, partitions = (np.concatenate(part) for part in zip(*self._parts, strict=True))
        order = np.argsort(stamps, kind="stable")
        codes, stamps, still, partitions = codes[order], stamps[order], still[order], partitions[order]
        names = list(self._codes)
        warmup.note([names[c] for c in codes.tolist()], stamps, still)
        for partition in set(reached) if warmup.silence_s else ():
            mine = np.flatnonzero(partitions == partition)
            if not mine.size:
                continue
            start = stamps[mine].max() - lookback_s
            _, first = np.unique(codes[mine], return_index=True)  # each asset's first reading there
            for j in mine[first].tolist():
                if not still[j] and stamps[j] - start > warmup.silence_s:
                    warmup.started(names[codes[j]], float(stamps[j]))
        return int(still.sum())


def _left_ms(deadline: float, stopping: Callable[[], bool]) -> int:
    left = deadline - time.monotonic()
    if left <= 0 or stopping():
        raise KafkaTimeoutError("no time left to read back" if left <= 0 else "stopping")
    return max(1, int(left * 1000))


class _Window:
    """One partition's read back: what is left of it lies at offsets ``floor`` to ``high``."""

    def __init__(self, tp: TopicPartition, begin: int, end: int) -> None:
        self.tp, self.begin, self.floor, self.high = tp, begin, begin, end
        self.size = FIRST_CHUNK
        self.since_ms: int | None = None  # the window's first Kafka time, once the newest chunk dated it
        self.handed = 0
        self.reached = False  # a record written before the window lies before the read (ReadBack.reached)

    def read_chunk(
        self,
        consumer: Any,
        lookback_s: float,
        deadline: float,
        on_records: Callable[[list[Any]], None],
        stopping: Callable[[], bool],
    ) -> None:
        """Read the next older chunk, hand on its records within the window as they come (the newest
        chunk once read whole: it dates the window), and move ``high`` below it. Memory holds one poll's
        records at a time, but for the newest chunk (:data:`FIRST_CHUNK`)."""
        low = max(self.floor, self.high - self.size)
        if self.since_ms is None:
            chunk: list[Any] = []
            _read_range(consumer, self.tp, low, self.high, deadline, stopping, chunk.extend)
            stamps = [rec.timestamp for rec in chunk if rec.timestamp >= 0]
            if not stamps:  # no Kafka time: this chunk only
                self.since_ms, self.floor = -1, low
            else:
                self.since_ms = max(0, max(stamps) - int(lookback_s * 1000))
                ask = {self.tp: self.since_ms}
                found = consumer.offsets_for_times(ask, timeout_ms=_left_ms(deadline, stopping)).get(self.tp)
                self.floor = max(self.begin, found.offset if found is not None else self.high)
                self.reached = found is not None and found.offset > self.begin
            self._hand(chunk, on_records)
        else:
            handed = self.handed
            hand = functools.partial(self._hand, on_records=on_records)
            _read_range(consumer, self.tp, low, self.high, deadline, stopping, hand)
            if self.handed == handed:  # a whole chunk written before the window: the rest was too
                self.floor = low
        self.high, self.size = low, self.size * 2

    def _hand(self, records: list[Any], on_records: Callable[[list[Any]], None]) -> None:
        assert self.since_ms is not None
        within = [rec for rec in records if rec.timestamp < 0 or rec.timestamp >= self.since_ms]
        self.reached |= len(within) < len(records)  # one written before the window
        if within:
            on_records(within)
            self.handed += len(within)


def _read_range(
    consumer: Any,
    tp: TopicPartition,
    low: int,
    high: int,
    deadline: float,
    stopping: Callable[[], bool],
    take: Callable[[list[Any]], Any],
) -> None:
    """Hand ``take`` the records of ``tp`` at offsets ``low`` to ``high`` (not included), a poll's at a
    time, in offset order."""
    consumer.assign([tp])
    consumer.seek(tp, low)
    while consumer.position(tp, timeout_ms=_left_ms(deadline, stopping)) < high:
        for records in consumer.poll(timeout_ms=min(_POLL_MS, _left_ms(deadline, stopping))).values():
            if part := [rec for rec in records if low <= rec.offset < high]:
                take(part)
