"""Where the label store has read each partition to, kept in the store itself.

The retrainer commits its Kafka offsets after its store, so the group's offsets say what *some* store
took in: not necessarily the one on disk now. A store restored from an old backup, a new one in place
of a lost or damaged one, lacks what the group read since; resuming from the group's offsets would lose
those alerts and operators' labels without a word. So every poll records, in the same transaction as
what it read, the next offset of each partition (:func:`record`), and a start resumes each partition
from the store's own position (:func:`resume`): what the store lacks is read again from the
topics (the store ignores what it holds already), as far as they still retain it, with a warning.

A store from before positions were kept (none recorded, yet not empty) trusts the group's offsets, as
it always did, and starts keeping its own from them (:func:`adopt`). A new store (nothing in it at
all) starts with none recorded: each partition is read as a new group would read it.

With the positions, the store keeps the id of the alerts and labels topics they were read from
(:func:`keep_topic_ids`, where the broker gives ids: Kafka 2.8 and later, Tansu): a topic deleted and
created again while the retrainer was stopped has a new id at the next start, and is read from its start
(:meth:`~pipeline.retrain.recreated.Recreations.since_stopped`), not resumed at a position in the old
topic. A store of an earlier release, which kept none, takes the ids the topics have at its first start.
The input topic's id is kept too (:func:`resume`): a position past the end offset the broker reports is
judged a recreation only in a topic whose id is not the one kept.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.labelstore import LabelStore
from pipeline.retrain.restored import LAST_SUCCESS

__all__ = [
    "POSITIONS",
    "TOPIC_IDS",
    "broker_topic_ids",
    "forget",
    "keep_topic_ids",
    "mark_new",
    "positions",
    "record",
    "resume",
    "topic_ids",
]

log = logging.getLogger("pipeline.retrain.service")  # its lines read as the retrainer's

POSITIONS = "kafka_positions"  # state key: JSON {"topic/partition": next offset}
TOPIC_IDS = "kafka_topic_ids"  # state key: JSON {topic: its id when its positions were read}


def _key(tp: TopicPartition) -> str:
    return f"{tp.topic}/{tp.partition}"  # a topic name holds no "/"


def positions(store: LabelStore) -> dict[str, int] | None:
    """The store's next offset per ``"topic/partition"``; None for a store from before they were kept."""
    raw = store.get_state(POSITIONS)
    if raw is None:
        return None
    data = json.loads(raw)
    return {str(k): int(v) for k, v in data.items()}


def _write(store: LabelStore, data: Mapping[str, int]) -> None:
    store.set_state(POSITIONS, json.dumps(dict(sorted(data.items()))))


def mark_new(store: LabelStore) -> bool:
    """Record "nothing read" in a store that holds nothing at all (a new one, or one that replaced a
    lost store): from then on its partitions are read from where a new group would start. Returns
    whether it did; call before anything else writes to the store."""
    # LAST_SUCCESS is set at the retrainer's first start on the store.
    if positions(store) is not None or store.get_state(LAST_SUCCESS) is not None:
        return False
    if any(store.counts().values()):
        return False
    _write(store, {})
    store.commit()
    return True


def record(store: LabelStore, offsets: Mapping[TopicPartition, int]) -> None:
    """Record the next offsets a poll leaves (written with it, visible at the store's commit)."""
    if offsets:
        _write(store, (positions(store) or {}) | {_key(tp): int(o) for tp, o in offsets.items()})


def topic_ids(store: LabelStore) -> dict[str, str]:
    """The id of each topic whose positions the store keeps (none kept: an earlier release's store, a
    broker that gives no ids)."""
    raw = store.get_state(TOPIC_IDS)
    return {} if raw is None else {str(k): str(v) for k, v in json.loads(raw).items()}


def broker_topic_ids(consumer: KafkaConsumer, topics: set[str]) -> dict[str, Any]:
    """Each topic's id in the consumer's metadata (None: not known, a broker before Kafka 2.8); empty
    when that cannot be read (kafka-python has no public call for it: its internal layout may change)."""
    try:
        find = consumer._client.cluster.topic_id  # type: ignore[attr-defined]
        return {topic: find(topic) for topic in topics}
    except (AttributeError, KeyError):
        return {}


def keep_topic_ids(store: LabelStore, ids: Mapping[str, object]) -> None:
    """Keep ``ids`` (topic -> id, None: not known) as those of the topics the store's positions are in
    (written with them, visible at the store's commit); a topic without an id keeps the one it had."""
    kept = topic_ids(store)
    new = kept | {topic: str(i) for topic, i in ids.items() if i is not None}
    if new != kept:
        store.set_state(TOPIC_IDS, json.dumps(dict(sorted(new.items()))))


def forget(store: LabelStore, parts: Sequence[TopicPartition]) -> None:
    """Drop the positions of ``parts`` (partitions their topic no longer has; visible at the commit)."""
    mine = positions(store)
    if mine is not None:
        _write(store, {k: v for k, v in mine.items() if k not in {_key(tp) for tp in parts}})


def resume(
    store: LabelStore, consumer: KafkaConsumer, parts: Sequence[TopicPartition], group_id: str
) -> dict[TopicPartition, int | None]:
    """Where each of ``parts`` resumes: the store's own position, within what the topic retains; None
    to read it as a new group would (the store never read it, or the topic was recreated since). A
    store from before positions were kept takes the group's offsets as its own. Logs a warning where
    the store and the group disagree: what the store lacks is read again, or is gone.

    A position past a partition's end offset tells a recreated topic only where the topic's id is not
    the one the store keeps (or the broker gives none), as :class:`~pipeline.retrain.recreated.Recreations`
    judges: the embedded Tansu answers the end offset with its last batch's first offset + 1, which a
    position read to the end passes. A topic that has no id kept takes the one it has now (written
    with the positions, visible at the store's commit)."""
    committed = {tp: consumer.committed(tp) for tp in parts}
    if positions(store) is None:  # kept from now on, from the group's offsets (trusted, as before)
        _write(store, {_key(tp): int(o) for tp, o in committed.items() if o is not None})
    mine = positions(store) or {}
    known = [tp for tp in parts if _key(tp) in mine]
    try:
        first = consumer.beginning_offsets(known) if known else {}
        last = consumer.end_offsets(known) if known else {}
    except KafkaError as exc:  # not checked against retention then; Kafka resets what is out of range
        log.warning(
            "cannot look up what the topics retain (%s): resuming from the label store's positions", exc
        )
        first, last = {}, {}
    now = broker_topic_ids(consumer, {tp.topic for tp in parts})
    kept = topic_ids(store)
    same = {t for t, i in now.items() if i is not None and kept.get(t) == str(i)}
    keep_topic_ids(store, {t: i for t, i in now.items() if t not in kept})
    where = f"the label store {store.path}"
    starts: dict[TopicPartition, int | None] = {}
    for tp in parts:
        group, at = committed[tp], mine.get(_key(tp))
        name = f"{tp.topic}/{tp.partition}"
        if at is None:
            if group is not None:
                log.warning(
                    "%s has not read %s, which the group %s read up to offset %d (a new store, or one in "
                    "place of a lost one): reading it again as a new group would, as far as the topic "
                    "retains it",
                    where,
                    name,
                    group_id,
                    group,
                )
            starts[tp] = None
            continue
        if group is not None and group > at:
            log.warning(
                "%s has read %s up to offset %d, the group %s up to %d (a store restored from a "
                "backup?): reading the %d records between again",
                where,
                name,
                at,
                group_id,
                group,
                group - at,
            )
        if tp in last and at > last[tp] and tp.topic not in same:
            log.warning(
                "%s has read %s up to offset %d, but it holds records only up to %d (the topic was "
                "recreated?): reading it again from its start",
                where,
                name,
                at,
                last[tp],
            )
            starts[tp] = None
        elif tp in first and at < first[tp]:
            log.warning(
                "%s has read %s up to offset %d, but the topic retains it only from %d: the %d records "
                "between are gone, with any alerts and labels among them",
                where,
                name,
                at,
                first[tp],
                first[tp] - at,
            )
            starts[tp] = first[tp]
        else:
            starts[tp] = at
    return starts
