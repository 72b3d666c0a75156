"""A processed batch commits where the consumer stands: on a transactional input topic, past the
commit marker that follows the batch's last record. The marker takes an offset but is never handed
out; committed at the last record + 1, a partition read to its end showed a lag of 1 in every tool
that reads the group's offsets, and a restarted daemon fetched the marker again for nothing.

Safe for at-least-once: kafka-python's position passes only records the poll handed out, and the
offsets never handed out (commit and abort markers, aborted records under ``read_committed``), and
the daemon processes each poll whole before it commits."""

from __future__ import annotations

import uuid
from collections import namedtuple

import numpy as np
import pytest
from kafka import KafkaProducer, TopicPartition
from pipeline_kafka import committed, make_settings, reading, running_daemon, sample, wait_for
from plant_data import normal
from prometheus_client import CollectorRegistry
from test_pipeline_lag_markers import LAST, TP, _Delivery, _Transactional

from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value")


class _Committing(_Transactional):
    def __init__(self, position: int | None) -> None:
        super().__init__(position=position)
        self.commits: list[dict[TopicPartition, int]] = []

    def commit(self, offsets: dict, timeout_ms: int | None = None) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


def _daemon(fitted, consumer: _Committing) -> Daemon:
    settings = Settings.model_validate({"kafka": {"topics": {"input": "in"}}})
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x")
    daemon.consumer = consumer  # type: ignore[assignment]
    daemon.delivery = _Delivery()  # type: ignore[assignment]
    return daemon


def _records(n: int = LAST + 1) -> list[Rec]:
    rows = normal(np.random.default_rng(5), n)
    return [Rec("in", 0, i, b"a-1", reading("a-1", 1.0 + i, row)) for i, row in enumerate(rows)]


@pytest.mark.parametrize(
    ("position", "commit"),
    [
        (LAST + 2, LAST + 2),  # the poll passed the marker after the last record: committed past it
        (None, LAST + 1),  # no position known: the last record + 1, as before
        (LAST - 3, LAST + 1),  # a position behind the records processed (a seek back) never lowers it
    ],
)
def test_a_batch_commits_the_consumers_position(fitted, position: int | None, commit: int) -> None:
    consumer = _Committing(position)
    _daemon(fitted, consumer)._handle(_records())
    assert consumer.commits == [{TP: commit}]


@pytest.mark.integration
def test_a_transactional_input_read_to_its_end_is_committed_to_its_end(tansu, registry, fitted) -> None:
    # Before, the group's committed offset stayed at the last record + 1, one short of the end.
    bootstrap = tansu.bootstrap_servers
    settings = make_settings(bootstrap, registry, topics={"partitions": 1})
    topic = settings.kafka.topics.input
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"tx-{uuid.uuid4().hex[:8]}")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for i, row in enumerate(normal(np.random.default_rng(6), 20)):
            producer.send(topic, key=b"a-1", value=reading("a-1", 1000.0 + 10 * i, row))
        producer.commit_transaction()  # offsets 0..19 hold the records, 20 the commit marker
    finally:
        producer.close(timeout=5)
    with running_daemon(settings, fitted, bootstrap) as (_, metrics):
        wait_for(lambda: sample(metrics, "dhag_records_consumed_total") >= 20, 60, "the records processed")
        wait_for(lambda: committed(bootstrap, settings.kafka.group_id, topic) == {0: 21}, 20, "the commit")
