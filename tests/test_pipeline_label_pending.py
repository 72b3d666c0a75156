"""Labels waiting for their alert: a poll looks only at those that can have changed (their alert came, or
their time is up), not the whole pending table, and the table is bounded (``retrain.max_pending_labels``:
a label past it is dead-lettered at once, counted, never dropped)."""

from __future__ import annotations

import re
import sqlite3
from collections import namedtuple
from pathlib import Path
from typing import Any

import orjson
from labels_support import open_alert
from prometheus_client import CollectorRegistry

from pipeline.config import RecordSettings, RetrainSettings
from pipeline.labels import LabelReason
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.intake import Intake

Msg = namedtuple("Msg", "topic partition offset key value")
NOW = 1_000_000.0


class _Letters:
    """Dead letters, each acknowledged at once: a pending one leaves the store (as DeadLetters.settle)."""

    def __init__(self, store: LabelStore, metrics: RetrainMetrics) -> None:
        self.store, self.metrics = store, metrics
        self.sent: list[tuple[bytes | None, LabelReason, str]] = []

    def send(self, producer: Any, key, raw, reason, detail, source, first_seen, *, pending=None) -> None:  # noqa: ANN001
        self.sent.append((raw, reason, detail))
        self.metrics.labels_dlq.labels(str(reason)).inc()
        if pending is not None:
            self.store.drop_pending(pending)


class _Intake(Intake):
    def __init__(self, store: LabelStore, **cfg: Any) -> None:
        self.cfg = RetrainSettings(**cfg)
        self.store = store
        self.registry = CollectorRegistry()
        self.metrics = RetrainMetrics(self.registry)
        self.now, self.ticks = [NOW], [0.0]
        self.clock = lambda: self.now[0]
        self.monotonic = lambda: self.ticks[0]
        self._dead_letters = _Letters(store, self.metrics)  # type: ignore[assignment]
        self._asset_re = re.compile(RecordSettings().asset_id_pattern)
        self._max_future_s = RecordSettings().max_future_s


def _label(alert_id: str, operator: str = "kim", answer: str = "anomaly") -> bytes:
    return orjson.dumps({"alert_id": alert_id, "label": answer, "operator": operator, "ts": NOW - 60})


def _flood(store: LabelStore, n: int, first_seen: float) -> None:
    """``n`` labels of alerts never seen (a console that sends wrong ids), waiting since ``first_seen``."""
    store._db.executemany(
        "INSERT INTO pending (source, alert_id, raw, first_seen) VALUES (?, ?, ?, ?)",
        ((f"labels/1/{i}#0", f"typo-{i}", _label(f"typo-{i}") + b" " * 2000, first_seen) for i in range(n)),
    )
    store.commit()


def _steps(store: LabelStore, work: Any) -> int:
    """How many SQLite virtual-machine steps (in thousands) ``work`` took: the rows it read, and more."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    store._db.set_progress_handler(tick, 1000)
    try:
        work()
    finally:
        store._db.set_progress_handler(None, 0)
    return count[0]


def test_a_poll_reads_only_the_pending_labels_that_can_have_changed(tmp_path: Path) -> None:
    cost = {}
    for n in (100, 20_000):
        store = LabelStore(tmp_path / f"{n}.sqlite")
        _flood(store, n, first_seen=NOW - 10)
        intake = _Intake(store)
        intake._retry_pending(producer=None)  # the first after a start looks at every one, once
        intake.now[0] += 1.0
        intake.ticks[0] += 1.0
        cost[n] = _steps(store, lambda i=intake: i._retry_pending(producer=None))
        assert store.pending_count() == n and intake._dead_letters.sent == []
    # Before, each poll read the whole table (raw bytes included): 200 times the labels, 200 times the work.
    assert cost[20_000] <= cost[100] + 5, cost


def test_waiting_labels_join_their_alert_once_it_comes_and_the_others_expire_on_time(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    intake = _Intake(store)
    _flood(store, 300, first_seen=NOW - 10)
    raw = [_label("a1"), _label("a1", "lee", "normal"), _label("a2")]
    intake._labels([Msg("labels", 0, i, b"k", r) for i, r in enumerate(raw)], producer=None)
    intake._retry_pending(producer=None)
    assert store.pending_count() == 303
    intake.now[0] += 5.0
    intake.ticks[0] += 5.0
    intake._alerts([Msg("alerts", 0, 0, b"p1", orjson.dumps(open_alert("a1", NOW - 100, {"x": 1.0})))])
    intake._retry_pending(producer=None)
    assert store.pending_count() == 301 and intake._dead_letters.sent == []
    assert [(r.alert_id, r.operator) for r in store.latest_labels()] == [
        ("a1", "lee")
    ]  # in the order they came
    # label_retry_s by the wall clock, not yet by the monotonic one (a step of the wall clock): kept.
    intake.now[0] += 600.0
    intake._retry_pending(producer=None)
    assert store.pending_count() == 301
    intake.ticks[0] += 600.0
    for _ in range(3):  # at most a few hundred a poll
        intake._retry_pending(producer=None)
    assert store.pending_count() == 0
    reasons = {reason for _, reason, _ in intake._dead_letters.sent}
    assert reasons == {LabelReason.UNKNOWN_ALERT} and len(intake._dead_letters.sent) == 301
    assert intake.registry.get_sample_value("dhag_labels_dlq_total", {"reason": "unknown_alert"}) == 301
    # Its alert comes later: nothing waits for it any more (it was dead-lettered, as before).
    intake._alerts([Msg("alerts", 0, 1, b"p1", orjson.dumps(open_alert("a2", NOW, {"x": 2.0})))])
    intake._retry_pending(producer=None)
    assert [r.alert_id for r in store.latest_labels()] == ["a1"]


def test_a_label_past_the_most_that_may_wait_is_dead_lettered_at_once_and_counted(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    intake = _Intake(store, max_pending_labels=2)
    msgs = [Msg("labels", 0, i, b"k", _label(f"typo-{i}")) for i in range(3)]
    intake._labels(msgs, producer=None)
    assert store.pending_count() == 2
    [(raw, reason, detail)] = intake._dead_letters.sent
    assert (raw, reason) == (msgs[2].value, LabelReason.UNKNOWN_ALERT)
    assert "retrain.max_pending_labels" in detail and "typo-2" in detail
    assert intake.registry.get_sample_value("dhag_labels_dlq_total", {"reason": "unknown_alert"}) == 1
    # A replay of one waiting is no new label: it keeps waiting, not dead-lettered as well.
    intake._labels(msgs[:1], producer=None)
    assert store.pending_count() == 2 and len(intake._dead_letters.sent) == 1
    # Labels of known alerts are taken whatever waits.
    intake._alerts([Msg("alerts", 0, 0, b"p1", orjson.dumps(open_alert("a1", NOW - 100, {"x": 1.0})))])
    intake._labels([Msg("labels", 0, 3, b"k", _label("a1"))], producer=None)
    assert [r.alert_id for r in store.latest_labels()] == ["a1"]
    # Once one has left, the next waits again.
    intake.ticks[0] += 601.0
    intake.now[0] += 601.0
    intake._retry_pending(producer=None)
    intake._labels([Msg("labels", 0, 4, b"k", _label("typo-4"))], producer=None)
    assert store.pending_count() == 1


def test_a_store_of_this_layout_without_the_pending_indexes_gets_them_at_open(tmp_path: Path) -> None:
    # A store an earlier release of this layout wrote: the same tables, without them.
    LabelStore(tmp_path / "l.sqlite").close()
    db = sqlite3.connect(tmp_path / "l.sqlite")
    db.executescript("DROP INDEX pending_alert; DROP INDEX pending_first_seen;")
    db.close()
    store = LabelStore(tmp_path / "l.sqlite")
    names = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"pending_alert", "pending_first_seen"} <= names
