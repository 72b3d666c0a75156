"""pipeline.endoffsets and pipeline.positions against a real broker: the embedded Tansu reports a
partition's end offset as its last record batch's first offset + 1, while the high watermark of a
fetch is right."""

from __future__ import annotations

import uuid

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from pipeline.broker import EmbeddedBroker
from pipeline.endoffsets import positions_waiting
from pipeline.positions import caught_up


def _topic_of_two_batches(broker: EmbeddedBroker) -> TopicPartition:
    """A one-partition topic holding 203 records: a batch of 200, then one of 3."""
    topic = f"positions-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=5_000, batch_size=1 << 20)
    try:
        for count in (200, 3):
            for _ in range(count):
                producer.send(topic, b"x" * 100)
            producer.flush()  # the records sent so far go as one batch
    finally:
        producer.close()
    return TopicPartition(topic, 0)


def test_records_waiting_in_the_last_batch_are_seen_although_the_end_offset_is_under_reported(
    tansu: EmbeddedBroker,
) -> None:
    tp = _topic_of_two_batches(tansu)
    consumer = KafkaConsumer(
        bootstrap_servers=tansu.bootstrap_servers, enable_auto_commit=False, max_poll_records=1
    )
    try:
        consumer.assign([tp])
        consumer.seek(tp, 0)
        # The broker's answer on its own: the first offset of the last batch + 1, not 203.
        assert consumer.end_offsets([tp])[tp] == 201
        # Before any fetch only that answer is known: records wait all the same.
        found = positions_waiting(consumer, [tp], 5_000)
        assert found is not None and found[tp] == (0, 201) and not caught_up(found, {tp})
        while consumer.position(tp) < 201:  # one record at a time, into the last batch
            consumer.poll(timeout_ms=1_000)
        found = positions_waiting(consumer, [tp], 5_000)
        # Two records wait: before, 201 - 201 read as none, a lag of 0 and a daemon caught up.
        assert found == {tp: (201, 2)} and not caught_up(found, {tp})
        while consumer.position(tp) < 203:
            consumer.poll(timeout_ms=1_000)
        found = positions_waiting(consumer, [tp], 5_000)
        assert found == {tp: (203, 0)} and caught_up(found, {tp})
    finally:
        consumer.close()
