"""``dhag-pipeline bench``'s latency run counts every alert its daemon opened: the alerts topic is read to
its end on every partition, not until a first poll returns something (one partition's fetch, or part of
one), which undercounted ``alerts_opened`` and left the rest out of the alert latency."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from kafka import TopicPartition

from pipeline import bench


class _Consumer:
    """kafka-python's consumer, as the bench uses it, over ``topics`` (topic -> partition -> values):
    each poll hands out the next message of one partition, partitions in turn, as fetches come."""

    def __init__(self, topics: dict[str, dict[int, list[bytes]]]) -> None:
        self._topics, self._queue = topics, []

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(self._topics[topic])

    def assign(self, parts: list[TopicPartition]) -> None:
        self._parts = parts

    def seek_to_beginning(self) -> None:
        messages = [
            [(tp, SimpleNamespace(offset=n, value=v, timestamp=0)) for n, v in enumerate(self._values(tp))]
            for tp in self._parts
        ]
        self._queue = [m for batch in zip(*messages, strict=True) for m in batch]

    def _values(self, tp: TopicPartition) -> list[bytes]:
        return self._topics[tp.topic][tp.partition]

    def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self._values(tp)) for tp in parts}

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        if not self._queue:
            return {}
        tp, message = self._queue.pop(0)
        return {tp: [message]}

    def close(self) -> None:
        pass


def test_the_latency_run_counts_the_alerts_of_every_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    later = time.time() + 3600  # after the run's start: every message counts
    scores = {  # each partition's scores are of its own input partition's records
        p: [
            orjson.dumps({"partition": p, "offset": i, "ts": later, "scored_at": later + 0.01})
            for i in range(3)
        ]
        for p in (0, 1)
    }
    alerts = [orjson.dumps({"ts": later, "state": "open", "asset_id": f"a{i}"}) for i in range(3)]
    topics = {
        "bench-lat-scores": scores,
        "bench-lat-alerts": {0: alerts, 1: alerts},
    }
    monkeypatch.setattr(bench, "KafkaConsumer", lambda **kw: _Consumer(topics))
    monkeypatch.setattr(bench, "_start_daemon", lambda *a: SimpleNamespace(poll=lambda: None))
    monkeypatch.setattr(bench, "_stop", lambda proc: 400.0)
    monkeypatch.setattr(bench, "_offer_load", lambda *a: (3, 1.0))
    result = bench._latency("b", Path("r"), "bench-lat", 5000, 1.0)
    assert result["alerts_opened"] == 6
    assert result["scored"] == 6
