"""The daemon's look at where it stands against the broker: per assigned partition, its position and
the records the broker holds past it, within the time the look gets.

The look holds up the next poll, so all its broker calls share one deadline (:func:`left_ms`), and one
partition costs only itself: each partition leader is asked for its end offsets on its own, and a
partition without a leader is not asked. :mod:`pipeline.positions` judges what the looks find.
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError

from pipeline.backoff import ThrottledLog

__all__ = ["left_ms", "positions_waiting"]

log = logging.getLogger("pipeline.daemon")
# A broker that will not say its end offsets fails every look (one per kafka.request_timeout_ms).
_LOOK_LOG = ThrottledLog(log, 600.0)


def positions_waiting(
    consumer: KafkaConsumer,
    partitions: list[TopicPartition],
    timeout_ms: int,
    unanswered: set[TopicPartition] | None = None,
) -> dict[TopicPartition, tuple[int, int]] | None:
    """Per partition, ``(position, records the broker holds past it)`` (partitions without a position
    left out); None when the broker cannot be asked.

    The end is the larger of the broker's end offset and the high watermark of the consumer's last
    fetch of the partition: the embedded Tansu answers the end offset with its last record batch's
    first offset + 1, which a position inside that batch passes while records still wait.

    One partition must not cost the others their ends. kafka-python asks every leader in one call that
    fails as a whole: a partition whose leader is unknown to it fails it (a ``KeyError``, not even a
    Kafka error), and one whose leader does not answer makes the call time out. So partitions without a
    leader in the consumer's metadata are not asked, and each leader is asked on its own (one call for
    all when the metadata cannot be read). The partitions not answered are left out of the result and
    added to ``unanswered``; None only when no partition was answered.

    The calls share ``timeout_ms``, the positions too (one not known yet is read from the committed
    offset, or reset): the look holds up the next poll, and one call may not take all of it each."""
    deadline = time.monotonic() + timeout_ms / 1000
    leaders = _leaders(consumer, partitions)
    error: BaseException | None = None
    if leaders:
        ends, error = _ends_by_leader(consumer, leaders, deadline)
    else:
        try:
            ends = consumer.end_offsets(partitions, timeout_ms=timeout_ms)
        except (KafkaError, KeyError) as exc:  # KeyError: kafka-python on a partition without a leader
            ends, error = {}, exc
    missing = set(partitions) - set(ends)
    if unanswered is not None:
        unanswered |= missing
    try:
        if not ends and partitions:
            if isinstance(error, KafkaError):
                raise error
            raise KafkaTimeoutError(
                f"no leader answered for partitions {sorted(p.partition for p in missing)}"
            )
        positions = {tp: consumer.position(tp, timeout_ms=left_ms(deadline)) for tp in ends}
    except KafkaError as exc:
        _LOOK_LOG.log(
            "look", logging.WARNING, "cannot compare positions with the broker's end offsets: %s", exc
        )
        return None
    if missing:
        _LOOK_LOG.log(
            "partial",
            logging.WARNING,
            "no end offsets from the broker for partitions %s (no leader, or it does not answer): "
            "looked at the others",
            sorted(tp.partition for tp in missing),
        )
    found = {}
    for tp, at in positions.items():
        if at is not None:
            end = max(ends[tp], consumer.highwater(tp) or 0)
            found[tp] = (at, max(0, end - at))
    return found


def left_ms(deadline: float) -> int:
    """Milliseconds left to ``deadline`` (time.monotonic()), 0 once past it (a position then is the one
    kafka-python knows, without a request). The reads after a rebalance, which share the look's time
    (:mod:`pipeline.rebalance`), go by it too.

    >>> left_ms(time.monotonic() - 1.0), 1000 < left_ms(time.monotonic() + 2.0) <= 2000
    (0, True)
    """
    return max(0, int((deadline - time.monotonic()) * 1000))


def _leaders(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int | None]:
    """The leader of each partition in the consumer's metadata (None: none known); empty when that
    cannot be read (kafka-python has no public call for it: its internal layout may change).

    kafka-python's IO thread replaces the whole partition table on each metadata update while this
    reads it, and ``leader_for_partition`` looks a topic up twice: a table replaced in between without
    the topic raises a ``KeyError``. Such a partition gets no leader at this look."""
    try:
        cluster = consumer._client.cluster  # type: ignore[attr-defined]
        find = cluster.leader_for_partition
    except AttributeError:
        return {}
    leaders: dict[TopicPartition, int | None] = {}
    for tp in partitions:
        try:
            leader = find(tp)
        except KeyError:
            leader = None
        leaders[tp] = leader if isinstance(leader, int) and leader >= 0 else None
    return leaders


def _ends_by_leader(
    consumer: KafkaConsumer, leaders: dict[TopicPartition, int | None], deadline: float
) -> tuple[dict[TopicPartition, int], BaseException | None]:
    """The end offsets of the partitions in ``leaders`` that have one, one call per leader, each given
    an even share of the time left to ``deadline`` (a leader that answers at once leaves its share to
    the next); leaders that fail are left out. Also the last failure."""
    groups: dict[int, list[TopicPartition]] = {}
    for tp, leader in leaders.items():
        if leader is not None:
            groups.setdefault(leader, []).append(tp)
    ends: dict[TopicPartition, int] = {}
    error: BaseException | None = None
    for n, group in enumerate(groups.values()):
        share_ms = left_ms(deadline) // (len(groups) - n)
        if share_ms <= 0:
            error = KafkaTimeoutError(f"no time left to ask for the end offsets of {len(group)} partition(s)")
            break
        try:
            ends.update(consumer.end_offsets(group, timeout_ms=share_ms))
        except (KafkaError, KeyError) as exc:
            error = exc
    return ends, error
