"""Label dead letters Kafka does not acknowledge for a reason other than a refusal (a timeout, their
topic's leader away) while polls work: counted in ``dhag_broker_failures_total{operation="dead_letter"}``,
logged once until they are acknowledged, the labels read again and sent again after a backoff (not at
once, not committed past), and no outage that would stop the retrainer."""

from __future__ import annotations

import logging

from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from kafka.producer.future import FutureProduceResult
from test_pipeline_retrain_refused import (
    LABELS,
    _backoffs,
    _Consumer,
    _mended_at,
    _Producer,
    _record,
    _retrainer,
    _run,
)


class _Unacknowledged(_Producer):
    """Sends fail as a request that timed out fails them, while ``away``."""

    def __init__(self) -> None:
        super().__init__()
        self.away = True

    def send(self, topic: str, key=None, value=None, headers=None) -> FutureProduceResult:  # noqa: ANN001
        if not self.away:
            return super().send(topic, key=key, value=value, headers=headers)
        future = FutureProduceResult(TopicPartition(topic, 0))
        future.failure(KafkaTimeoutError("Batch for operator-labels.dlq-0 expired"))
        return future


def test_dead_letters_not_acknowledged_are_counted_logged_once_and_sent_again_after_a_backoff(
    monkeypatch, caplog
) -> None:
    retrainer, _, registry = _retrainer(monkeypatch)
    producer = _Unacknowledged()
    bad = {LABELS: [_record(LABELS, 7, b"{broken")]}
    consumer = _Consumer(retrainer, [bad, bad, bad, bad])
    # The dead-letter topic's leader back before the fourth poll: the label read again goes.
    _mended_at(consumer, 3, lambda: setattr(producer, "away", False))
    waits = _backoffs(monkeypatch, retrainer)
    caplog.set_level(logging.INFO)
    assert _run(retrainer, monkeypatch, consumer, producer) == 0
    failures = registry.get_sample_value("dhag_broker_failures_total", {"operation": "dead_letter"})
    assert failures == 3
    assert len(waits) == 3  # a backoff after each turn that failed, not read again at once
    assert consumer.commits == [{"operator-labels": 8}]  # only once its dead letter was delivered
    assert producer.sent == ["operator-labels.dlq"]
    said = [r.getMessage() for r in caplog.records if r.name.startswith("pipeline")]
    failed = [line for line in said if "label dead letters not acknowledged" in line]
    assert len(failed) == 1 and "Batch for operator-labels.dlq-0 expired" in failed[0], said
    back = [line for line in said if "acknowledged again" in line]
    assert back == ["label dead letters acknowledged again"], said
    assert not [line for line in said if "Kafka refused" in line]
    assert all(text == "ok" for text in consumer.ready), consumer.ready  # no outage, no refusal
