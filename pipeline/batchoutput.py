"""What one polled batch hands the daemon to send and commit (:mod:`pipeline.processing` makes it)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

__all__ = ["BatchOutput", "Outgoing", "score_messages"]


@dataclass(frozen=True)
class Outgoing:
    """One message to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class BatchOutput:
    """What a batch produced; ``offsets`` maps (topic, partition) to the next offset to commit."""

    messages: list[Outgoing] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    scored: int = 0
    dead_lettered: int = 0
    opened: int = 0
    resolved: int = 0
    dlq_tripped: bool = False

    def add(self, other: BatchOutput) -> None:
        """Fold ``other``, the output of records after this one's, into this output."""
        self.messages += other.messages
        for tp, offset in other.offsets.items():
            self.offsets[tp] = max(offset, self.offsets.get(tp, 0))
        self.scored += other.scored
        self.dead_lettered += other.dead_lettered
        self.opened += other.opened
        self.resolved += other.resolved
        self.dlq_tripped = self.dlq_tripped or other.dlq_tripped


def score_messages(
    topic: str, model_version: str, records: Sequence[Any], parsed: Any, good: np.ndarray, scores: list[float]
) -> list[Outgoing]:
    """One ``kafka.topics.scores`` message per scored record ``good`` of ``parsed`` (its source record,
    its score), keyed as the record was."""
    scored_at, out = time.time(), []
    for j in good.tolist():
        rec = records[parsed.indices[j]]
        event = {
            "asset_id": parsed.asset_ids[j],
            "ts": float(parsed.timestamps[j]),
            "score": scores[j],
            "model_version": model_version,
            "partition": rec.partition,
            "offset": rec.offset,
            "scored_at": scored_at,
        }
        out.append(Outgoing(topic, rec.key, orjson.dumps(event)))
    return out
