"""``dhag-pipeline bench``'s latency run counts each record it offered once, by the source position its
scores message names: a record scored twice (its daemon's batch redone after a rebalance) is one record
scored, counted in ``duplicates``, and does not stand in for a record whose score is still to be read."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from pipeline import bench


class _Topics:
    """kafka-python's consumer stood in for: each topic's messages, handed out one per poll."""

    def __init__(self, topics: dict[str, list[dict[str, Any]]]) -> None:
        self.topics = topics

    def consumer(self, **kw: object) -> _Consumer:
        return _Consumer(self.topics)


class _Consumer:
    def __init__(self, topics: dict[str, list[dict[str, Any]]]) -> None:
        self.topics, self.left = topics, []

    def partitions_for_topic(self, topic: str) -> set[int]:
        self.left = [
            SimpleNamespace(value=orjson.dumps(m), offset=i) for i, m in enumerate(self.topics[topic])
        ]
        return {0}

    def assign(self, parts: Any) -> None:
        pass

    def seek_to_beginning(self) -> None:
        pass

    def end_offsets(self, parts: list[Any]) -> dict[Any, int]:
        return dict.fromkeys(parts, len(self.left))

    def poll(self, timeout_ms: int) -> dict[str, list[Any]]:
        return {"tp": [self.left.pop(0)]} if self.left else {}

    def close(self) -> None:
        pass


def test_a_record_scored_twice_counts_once_and_the_run_reads_on_to_the_records_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: the run read as many scores messages as it had sent records (warm-up's and its own) and
    # stopped there, so a record scored twice took the place of the last record's score: 'scored' said
    # every record offered was scored, and that record's latency, the slowest, was left out unsaid.
    later = time.time() + 3600  # after the run's start: measured
    scores = [
        {"partition": 0, "offset": 0, "ts": 1.0, "scored_at": 2.0},  # the warm-up's record
        {"partition": 0, "offset": 1, "ts": later, "scored_at": later + 0.010},
        {"partition": 0, "offset": 1, "ts": later, "scored_at": later + 0.300},  # its batch redone
        {"partition": 0, "offset": 2, "ts": later, "scored_at": later + 0.500},
    ]
    topics = _Topics({"bench-lat-scores": scores, "bench-lat-alerts": []})
    monkeypatch.setattr(bench, "KafkaConsumer", topics.consumer)
    monkeypatch.setattr(bench, "_start_daemon", lambda *a: SimpleNamespace(poll=lambda: None))
    monkeypatch.setattr(bench, "_stop", lambda proc: 400.0)
    monkeypatch.setattr(bench, "_offer_load", lambda b, t, rate, d: (1, 1.0) if rate == 100 else (2, 1.0))
    result = bench._latency("b", Path("r"), "bench-lat", 500, 1.0)
    assert result["sent"] == 2 and result["scored"] == 2 and result["duplicates"] == 1
    # Each record's first score: 10 ms and 500 ms.
    assert result["produce_to_scored_ms"]["p50"] == pytest.approx(255.0, abs=0.5)
