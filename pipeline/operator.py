"""A simulated operator for the demo: answers alerts from the ground truth, after a delay, sometimes wrong.

Each alert that opens is answered ``delay_s`` seconds later: ``anomaly`` when its asset had a fault
under way when it opened (the simulator's ``sensor-truth``, as :class:`~pipeline.scoreboard.Scoreboard`
judges it), ``normal`` otherwise; with probability ``error_rate`` the answer is the wrong one. Labels go
to the labels topic in the operator-label contract, where the retrainer picks them up.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from kafka import KafkaProducer

from pipeline.labels import label_message
from pipeline.scoreboard import Scoreboard

__all__ = ["OperatorStats", "SimulatedOperator"]

log = logging.getLogger(__name__)


@dataclass
class OperatorStats:
    """Labels given, by label, how many of them were deliberately wrong, and the alerts left unlabelled
    as not labellable (the retrainer keeps none of their events)."""

    anomaly: int = 0
    normal: int = 0
    wrong: int = 0
    unlabellable: int = 0
    answered: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        """Labels given."""
        return self.anomaly + self.normal


class SimulatedOperator:
    """Queue alerts as they open (:meth:`saw_alert`); :meth:`answer_due` labels those whose delay passed.

    Example
    -------
    >>> board = Scoreboard(grace_s=10)
    >>> board.add_truth({"state": "start", "asset_id": "p1", "kind": "seal_leak", "onset": 0, "ts": 100})
    >>> board.add_alert({"state": "open", "alert_id": "a", "asset_id": "p1", "opened_at": 103, "score": 0.9})
    >>> sent = []
    >>> op = SimulatedOperator(sent.append, delay_s=5, error_rate=0.0, seed=0)
    >>> op.saw_alert("a", now=110.0)
    >>> op.answer_due(board, now=112.0), op.answer_due(board, now=116.0)
    (0, 1)
    >>> [label["label"] for label in map(orjson.loads, sent)]
    ['anomaly']
    """

    def __init__(
        self,
        send: Callable[[bytes], object],
        *,
        delay_s: float = 20.0,
        error_rate: float = 0.05,
        seed: int = 0,
        name: str = "simulated-operator",
    ) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be in [0, 1]. Got {error_rate!r} instead.")
        if delay_s < 0:
            raise ValueError(f"delay_s must be >= 0. Got {delay_s!r} instead.")
        self.send = send
        self.delay_s = delay_s
        self.error_rate = error_rate
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.stats = OperatorStats()
        self._queue: list[tuple[float, str]] = []

    @classmethod
    def to_kafka(cls, producer: KafkaProducer, topic: str, **options: Any) -> SimulatedOperator:
        """An operator whose labels are produced to ``topic`` (key = alert id)."""

        def send(raw: bytes) -> None:
            producer.send(topic, key=orjson.loads(raw)["alert_id"].encode(), value=raw)

        return cls(send, **options)

    def saw_alert(self, alert_id: str, *, now: float) -> None:
        """An alert opened: answer it ``delay_s`` from ``now`` (once per alert)."""
        if alert_id in self.stats.answered:
            return
        self.stats.answered.add(alert_id)
        heapq.heappush(self._queue, (now + self.delay_s, alert_id))

    def answer_due(self, board: Scoreboard, *, now: float) -> int:
        """Label every queued alert whose time has come; returns how many were labelled."""
        done = 0
        while self._queue and self._queue[0][0] <= now:
            _, alert_id = heapq.heappop(self._queue)
            alert = board.alerts.get(alert_id)
            if alert is None:
                continue
            if alert.unlabellable is not None:  # `label` refuses it: its label would be dead-lettered
                self.stats.unlabellable += 1
                continue
            truth = board.cause(alert) is not None
            wrong = bool(self.rng.random() < self.error_rate)
            verdict = "anomaly" if truth != wrong else "normal"
            self.send(label_message(alert_id=alert_id, label=verdict, operator=self.name, now=now))
            self.stats.wrong += wrong
            if verdict == "anomaly":
                self.stats.anomaly += 1
            else:
                self.stats.normal += 1
            done += 1
        return done
