"""A partition whose position passes offsets never handed out while no record comes is committed there.

Under ``read_uncommitted`` (the default) the daemon reads a transaction's records before its commit
marker is written: the batch commits the last record + 1. The marker comes later, on an empty poll,
and moves the position past it; before, only a batch's offsets were committed, so the group's
committed offset stayed one short of the end (tools showed a lag of 1) until the next record came.

At-least-once holds: the position only passes records a poll handed out, each processed and
delivered before the next poll, and offsets never handed out; a partition with a batch still
pending or owed, or paused, is left alone."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError
from pipeline_kafka import committed, make_settings, reading, running_daemon, sample, wait_for
from plant_data import normal
from test_pipeline_commit_markers import _Committing, _daemon, _records
from test_pipeline_lag_markers import LAST, TP

from pipeline.rebalance import REBALANCE

OTHER = TopicPartition("in", 1)


class _Idle(_Committing):
    """Two partitions: ``TP`` read past its marker (``LAST + 2``), ``OTHER`` at offset 5."""

    def __init__(self, position: int | None = LAST + 2) -> None:
        super().__init__(position)
        self.held, self.stopped = {TP, OTHER}, set()

    def paused(self) -> set[TopicPartition]:
        return set(self.stopped)

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        return self.at if tp == TP else 5


def test_an_empty_poll_commits_a_position_that_passed_the_commit_marker(fitted) -> None:
    consumer = _Idle()
    daemon = _daemon(fitted, consumer)
    daemon._committed = {TP: LAST + 1, OTHER: 5}  # the batch committed before the marker was written
    daemon._idle()
    assert consumer.commits == [{TP: LAST + 2}]
    daemon._idle()  # committed there: nothing more to commit
    assert consumer.commits == [{TP: LAST + 2}]


def test_a_batch_commits_another_partitions_passed_marker_with_its_own(fitted) -> None:
    # A daemon busy on one partition may never idle: the other's marker goes with the next batch.
    consumer = _Idle()
    daemon = _daemon(fitted, consumer)
    daemon._committed = {TP: 0, OTHER: 3}
    records = [r._replace(partition=1, offset=3 + i) for i, r in enumerate(_records(2))]
    daemon._handle(records)
    assert consumer.commits == [{OTHER: 5, TP: LAST + 2}]


def test_a_partition_never_committed_here_is_committed_at_its_position(fitted) -> None:
    consumer = _Idle()
    _daemon(fitted, consumer)._idle()
    assert consumer.commits == [{TP: LAST + 2, OTHER: 5}]


@pytest.mark.parametrize("case", ["paused", "owed", "rebalancing", "no position", "behind"])
def test_what_may_not_be_committed_at_its_position_is_not(fitted, case: str) -> None:
    consumer = _Idle(position=None if case == "no position" else LAST + 2)
    daemon = _daemon(fitted, consumer)
    daemon._committed = {TP: LAST + 3 if case == "behind" else LAST + 1, OTHER: 5}
    if case == "paused":  # the DLQ cap: records fetched before the pause are not handed out
        consumer.stopped = {TP}
    elif case == "owed":  # a batch refused and rewound: its output is still owed
        daemon._owed = {TP: LAST + 1}
    elif case == "rebalancing":  # revoked, the group has not answered: the positions are the old ones
        daemon.stall_clock.hold(REBALANCE)
    daemon._idle()
    assert consumer.commits == []


def test_a_pending_offset_is_committed_as_it_is(fitted) -> None:
    # A batch whose commit failed is committed at its own offset, not moved by the position.
    consumer = _Idle()
    daemon = _daemon(fitted, consumer)
    daemon._committed = {OTHER: 5}
    daemon._pending = {TP: LAST + 1}
    daemon._idle()
    assert consumer.commits == [{TP: LAST + 1}]


@pytest.mark.integration
def test_a_commit_marker_written_after_its_records_were_read_is_committed(tansu, registry, fitted) -> None:
    bootstrap = tansu.bootstrap_servers
    settings = make_settings(bootstrap, registry, topics={"partitions": 1})
    topic, group = settings.kafka.topics.input, settings.kafka.group_id
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"tx-{uuid.uuid4().hex[:8]}")
    try:
        producer.init_transactions()
        with running_daemon(settings, fitted, bootstrap) as (_, metrics):
            producer.begin_transaction()
            for i, row in enumerate(normal(np.random.default_rng(7), 20)):
                producer.send(topic, key=b"a-1", value=reading("a-1", 1000.0 + 10 * i, row))
            producer.flush()  # offsets 0..19 written, the transaction still open
            wait_for(lambda: sample(metrics, "dhag_records_consumed_total") >= 20, 60, "the records read")
            wait_for(lambda: committed(bootstrap, group, topic) == {0: 20}, 20, "the batch's commit")
            producer.commit_transaction()  # the marker at offset 20, and no record after it
            wait_for(lambda: committed(bootstrap, group, topic) == {0: 21}, 20, "the commit past the marker")
    finally:
        producer.close(timeout=5)


class _Refusing(_Idle):
    """Refuses the first commit as the group rebalanced (the generation moved on meanwhile)."""

    def __init__(self) -> None:
        super().__init__(position=LAST + 1)
        self.held, self.refuse = {TP}, True

    def commit(self, offsets: dict, timeout_ms: int | None = None) -> None:
        if self.refuse:
            self.refuse = False
            raise CommitFailedError("the group has already rebalanced")
        super().commit(offsets, timeout_ms)


def test_a_batch_whose_commit_a_rebalance_refused_is_committed_once_the_partition_stays(fitted) -> None:
    # kafka-python keeps the position of a partition assigned again by the rebalance: its records are
    # not handed out again, so before, the offsets the refused commit carried stayed uncommitted until
    # the partition's next record (a restart in between processed them again; tools showed them as lag).
    consumer = _Refusing()
    daemon = _daemon(fitted, consumer)
    daemon._committed = {TP: 0}
    daemon._handle(_records())
    assert consumer.commits == [] and daemon.commits_refused == 1
    daemon._idle()  # the partition came back (the group answered): its position is where it was
    assert consumer.commits == [{TP: LAST + 1}]
