"""A topic deleted and created again under the running retrainer (possibly with fewer partitions), or
while it was stopped.

The retrainer is assigned its partitions, so nothing tells it of a recreation: kafka-python goes on
fetching each partition from its old position. A partition the new topic lacks is fetched forever
(no leader; a metadata request at every fetch) and its position stays in the label store. A partition
it has again holds records from offset 0 while the position is past them: Kafka answers
``OFFSET_OUT_OF_RANGE`` and kafka-python starts again from the earliest record, but a broker that
answers nothing instead (the embedded Tansu broker does) leaves the partition silent until the new
topic's offsets pass the old position, and its records before that are never read: alerts and
operators' labels lost without a word.

So the retrainer's partition check (every ``_PARTITION_CHECK_S``, :meth:`Retrainer._assign`) drops
the partitions of a topic that no longer has them, with their positions in the label store
(:func:`drop`), and reads again from its start each alerts or labels partition of a topic recreated
(:class:`Recreations`: a new topic id, or a position past the end): the store ignores what it holds
already. Input partitions are left to
``auto_offset_reset``: a reading sampled twice would count twice. Both are logged as warnings and
counted in ``dhag_retrain_partitions_recreated_total``.

While the retrainer is stopped nothing watches: a new topic holding more records than the stored
position would be resumed there, its records before it never read. So the label store keeps each
alerts and labels topic's id with its positions (:func:`~pipeline.retrain.storepositions.keep_topic_ids`),
and a start (:meth:`Recreations.since_stopped`) reads from its start each partition of a topic whose id
is not the one kept, counted and logged as above.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.labelstore import LabelStore
from pipeline.retrain import storepositions
from pipeline.retrainmetrics import RetrainMetrics

__all__ = ["Recreations", "drop"]

log = logging.getLogger("pipeline.retrain.service")  # its lines read as the retrainer's


def _names(parts: Sequence[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}/{tp.partition}" for tp in parts)


def drop(store: LabelStore, metrics: RetrainMetrics, gone: Sequence[TopicPartition]) -> None:
    """Forget ``gone`` (partitions their topic no longer has): their positions leave the label store,
    so that a partition created again later is read from its start."""
    if not gone:
        return
    storepositions.forget(store, gone)
    store.commit()
    metrics.partitions_recreated.labels("dropped").inc(len(gone))
    log.warning(
        "partitions no longer in their topic (deleted and created again with fewer?): %s; no longer read",
        _names(gone),
    )


class Recreations:
    """Tells the partitions of a recreated topic: by its topic id, changed since the last check; where
    the broker gives none, by a position past the partition's end offset (not where it gives one: the
    embedded Tansu answers the end offset with its last batch's first offset + 1, which a position
    inside that batch passes)."""

    def __init__(self) -> None:
        self._ids: dict[str, Any] = {}  # topic -> its id at the last check

    def note(self, consumer: KafkaConsumer, topics: set[str]) -> None:
        """Take the ids ``topics`` have now (at the start) as those to compare with."""
        self._ids |= {
            t: i for t, i in storepositions.broker_topic_ids(consumer, topics).items() if i is not None
        }

    def since_stopped(
        self,
        consumer: KafkaConsumer,
        store: LabelStore,
        metrics: RetrainMetrics,
        parts: Sequence[TopicPartition],
    ) -> set[TopicPartition]:
        """Of ``parts`` (alerts and labels partitions taken at the start, or added since), those the label
        store read in a topic of another id (deleted and created again while the retrainer was stopped):
        their positions forgotten, to be read from their start; returns them. The topics' ids are kept
        with the positions from then on (committed). A topic recreated under the running retrainer, its
        new id not yet seen by :meth:`read_again`, is left to it (whose check may have failed)."""
        found = storepositions.broker_topic_ids(consumer, {tp.topic for tp in parts})
        ids = {t: i for t, i in found.items() if self._ids.get(t, i) == i}
        kept, mine = storepositions.topic_ids(store), storepositions.positions(store) or {}
        changed = {t for t, i in ids.items() if i is not None and kept.get(t, str(i)) != str(i)}
        again = [tp for tp in parts if tp.topic in changed and f"{tp.topic}/{tp.partition}" in mine]
        self._ids |= {t: i for t, i in ids.items() if i is not None}
        for tp in again:
            log.warning(
                "%s/%d, read up to offset %d before the retrainer started, has a new topic id (the topic was "
                "deleted and created again while the retrainer was stopped): reading it again from its start",
                tp.topic,
                tp.partition,
                mine[f"{tp.topic}/{tp.partition}"],
            )
        storepositions.forget(store, again)  # a start that dies before its first poll reads them again
        storepositions.keep_topic_ids(store, ids)
        store.commit()
        metrics.partitions_recreated.labels("read_again").inc(len(again))
        return set(again)

    def read_again(
        self,
        consumer: KafkaConsumer,
        store: LabelStore,
        metrics: RetrainMetrics,
        parts: Sequence[TopicPartition],
    ) -> list[TopicPartition]:
        """Seek to its start each of ``parts`` whose topic was recreated, its position in the label
        store with it; returns those. A failed lookup leaves them to the next check."""
        ids = storepositions.broker_topic_ids(consumer, {tp.topic for tp in parts})
        changed = {t for t, i in ids.items() if i is not None and self._ids.get(t, i) != i}
        unsure = [tp for tp in parts if ids.get(tp.topic) is None]
        try:
            ends = consumer.end_offsets(unsure) if unsure else {}
            past = [
                tp for tp in parts if tp.topic in changed or tp in ends and consumer.position(tp) > ends[tp]
            ]
            firsts = consumer.beginning_offsets(past) if past else {}
        except (KafkaError, KeyError) as exc:  # KeyError: a partition gone since the metadata was read
            log.warning("cannot compare the positions with the topics' ends (%s): checked again later", exc)
            return []  # a changed id stays changed for the next check
        self._ids |= {t: i for t, i in ids.items() if i is not None}
        for tp in past:
            log.warning(
                "%s/%d, read up to offset %d, %s (the topic was deleted and created again): reading it "
                "again from its start",
                tp.topic,
                tp.partition,
                consumer.position(tp),
                "has a new topic id" if tp.topic in changed else f"holds records only up to {ends[tp]}",
            )
            consumer.seek(tp, firsts[tp])
        if past:
            storepositions.record(store, {tp: firsts[tp] for tp in past})
        storepositions.keep_topic_ids(store, {t: i for t, i in ids.items() if t in changed})
        if past or changed:
            store.commit()
        metrics.partitions_recreated.labels("read_again").inc(len(past))
        return past
