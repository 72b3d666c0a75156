"""``alerts`` on a big alerts topic: reading it gives up only when it stops making progress, not after a
fixed time whatever its size, and episodes are built as the records come (no broker needed: a consumer
of fake records on a fake clock)."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest
from kafka import TopicPartition
from kafka.errors import KafkaError

from pipeline import alertscmd, consoletopics
from pipeline.config import Settings


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def _consumer(clock: _Clock, records: int, *, stall_after: int | None = None) -> type:
    """A consumer of one partition of ``records`` alert events, one per poll, each poll a second on
    ``clock``; ``stall_after``: the polls return nothing after that many records."""

    class Consumer:
        def __init__(self, **options: object) -> None:
            self.pos = 0
            self.tp: TopicPartition | None = None

        def partitions_for_topic(self, topic: str) -> set[int]:
            return {0} if "alerts" in topic else set()

        def assign(self, parts: list[TopicPartition]) -> None:
            (self.tp,) = parts

        def seek_to_beginning(self) -> None:
            self.pos = 0

        def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
            return {tp: records for tp in parts}

        def position(self, tp: TopicPartition) -> int:
            return self.pos

        def poll(self, timeout_ms: int) -> dict[TopicPartition, list[object]]:
            clock.now += 1.0
            if self.pos >= records or (stall_after is not None and self.pos >= stall_after):
                return {}
            event = {
                "alert_id": f"a{self.pos}",
                "asset_id": "p",
                "state": "open",
                "opened_at": 1.0,
                "ts": 1.0,
            }
            self.pos += 1
            return {self.tp: [SimpleNamespace(value=orjson.dumps(event), timestamp=1000)]}

        def close(self) -> None:
            pass

    return Consumer


def _patch(monkeypatch: pytest.MonkeyPatch, clock: _Clock, consumer: type) -> None:
    monkeypatch.setattr(consoletopics, "KafkaConsumer", consumer)
    monkeypatch.setattr(consoletopics, "time", SimpleNamespace(monotonic=clock.monotonic))


def test_a_topic_that_takes_minutes_to_read_is_read_to_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its reading was given 30 s in all: a topic that took longer to read always failed (exit 3, as if
    # Kafka could not be reached), however steadily it came.
    clock = _Clock()
    _patch(monkeypatch, clock, _consumer(clock, 200))
    episodes = alertscmd.read_episodes(Settings(), "k:9092")
    assert len(episodes) == 200 and clock.now > 200


def test_a_read_that_stops_making_progress_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    _patch(monkeypatch, clock, _consumer(clock, 200, stall_after=50))
    with pytest.raises(KafkaError, match="no progress for 30 s"):
        alertscmd.read_episodes(Settings(), "k:9092")
    assert 80 <= clock.now <= 90  # 50 polls with records, then 30 s without
