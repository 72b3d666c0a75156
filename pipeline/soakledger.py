"""The soak's ledger: every input record the broker acknowledged, and whether it came back scored or
dead-lettered, per partition and offset, with the repeats (at-least-once duplicates) and the
produce-to-scored latencies. :class:`LedgerCollector` reads the scores and DLQ topics into it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from kafka import KafkaConsumer, TopicPartition

__all__ = ["Ledger", "LedgerCollector"]


@dataclass
class Ledger:
    """Which input positions were produced (acknowledged by the broker) and which came back (scored or
    dead-lettered), per partition, plus repeats."""

    produced: dict[int, np.ndarray] = field(default_factory=dict)
    scored: dict[int, np.ndarray] = field(default_factory=dict)
    dead: dict[int, np.ndarray] = field(default_factory=dict)
    duplicates: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self, table: dict[int, np.ndarray], partition: int, offset: int) -> None:
        arr = table.get(partition)
        if arr is None or offset >= arr.size:
            grown = np.zeros(max(1024, 2 * (offset + 1)), dtype=bool)
            if arr is not None:
                grown[: arr.size] = arr
            arr = table[partition] = grown
        if table is not self.produced and (arr[offset] or self._other(table, partition, offset)):
            self.duplicates += 1
        arr[offset] = True

    def acknowledged(self, metadata: Any) -> None:
        """Producer callback: the broker stored a record at ``metadata.partition/offset``."""
        with self.lock:
            self.mark(self.produced, metadata.partition, metadata.offset)

    def _other(self, table: dict[int, np.ndarray], partition: int, offset: int) -> bool:
        other = self.dead if table is self.scored else self.scored
        arr = other.get(partition)
        return arr is not None and offset < arr.size and bool(arr[offset])

    def counts(self) -> tuple[int, int, int, int]:
        """Distinct produced, scored and dead-lettered records, and those produced but neither."""
        with self.lock:
            produced = sum(int(a.sum()) for a in self.produced.values())
            scored = sum(int(a.sum()) for a in self.scored.values())
            dead = sum(int(a.sum()) for a in self.dead.values())
            missing = 0
            for p, made in self.produced.items():
                got = np.zeros(made.size, dtype=bool)
                for table in (self.scored, self.dead):
                    arr = table.get(p)
                    if arr is not None:
                        n = min(made.size, arr.size)
                        got[:n] |= arr[:n]
                missing += int((made & ~got).sum())
        return produced, scored, dead, missing


class LedgerCollector(threading.Thread):
    """Reads the scores and DLQ topics from the beginning and marks what came back."""

    def __init__(self, bootstrap: str, scores: str, dlq: str, seen: Ledger) -> None:
        super().__init__(name="soak-collector", daemon=True)
        self.bootstrap, self.scores, self.dlq, self.seen = bootstrap, scores, dlq, seen
        self.stop = threading.Event()

    def run(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        try:
            parts = [
                TopicPartition(t, p)
                for t in (self.scores, self.dlq)
                for p in consumer.partitions_for_topic(t) or ()
            ]
            consumer.assign(parts)
            consumer.seek_to_beginning()
            while not self.stop.is_set():
                for tp, msgs in consumer.poll(timeout_ms=200, max_records=20_000).items():
                    self._take(tp.topic, msgs)
        finally:
            consumer.close()

    def _take(self, topic: str, msgs: list[Any]) -> None:
        seen = self.seen
        with seen.lock:
            if topic == self.scores:
                for m in msgs:
                    event = orjson.loads(m.value)
                    seen.mark(seen.scored, event["partition"], event["offset"])
                    seen.latencies.append(event["scored_at"] - event["ts"])
            else:
                for m in msgs:
                    headers = dict(m.headers)
                    seen.mark(
                        seen.dead, int(headers["dlq.source.partition"]), int(headers["dlq.source.offset"])
                    )
