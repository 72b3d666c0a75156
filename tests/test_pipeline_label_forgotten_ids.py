"""The ids of forgotten alerts (table ``forgotten``) are kept for ``retrain.alert_retention_s`` after the
alert was forgotten, then forgotten too: the table stays bounded (before, it grew by one row per
forgotten alert for as long as the plant ran)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson
from labels_support import open_alert
from test_pipeline_retrain_deadletters import _retrainer

from pipeline.config import Settings
from pipeline.labels import parse_label
from pipeline.labelschema import VERSION
from pipeline.labelstore import LabelStore, Source, Taken


def _forgotten_rows(store: LabelStore) -> list[str]:
    return [row[0] for row in store._db.execute("SELECT alert_id FROM forgotten ORDER BY alert_id")]


def test_a_run_forgets_the_ids_of_alerts_forgotten_over_alert_retention_s_ago(monkeypatch) -> None:
    clock = [time.time() + 3600.0]
    settings = Settings.model_validate({"retrain": {"alert_retention_s": 60.0}})
    retrainer, store, _ = _retrainer(clock, settings)
    monkeypatch.setattr(retrainer, "_run", lambda *args: None)  # no training: the store is the point
    now = clock[0]
    for n, opened in enumerate((now - 900.0, now - 800.0, now - 700.0)):
        store.add_alert(open_alert(f"a{n}", opened, {"x": 1.0}))
    store._db.execute("UPDATE alerts SET seen_at = ?", (now - 120.0,))
    retrainer.start_run("on_demand").result(timeout=10)
    assert _forgotten_rows(store) == ["a0", "a1"]  # a2 is p1's newest
    clock[0] += 30.0  # within alert_retention_s of their forgetting: kept
    retrainer.start_run("on_demand").result(timeout=10)
    assert _forgotten_rows(store) == ["a0", "a1"]
    clock[0] += 31.0
    retrainer.start_run("on_demand").result(timeout=10)
    assert _forgotten_rows(store) == []
    # Its id forgotten too, a label by reading of a0's reading is the reading's, and one by a0's id
    # is an unknown alert's (dead-lettered after label_retry_s as a mistyped id's).
    assert store.forgotten("a0") is None and not store.knows_alert("a0")
    reading = {"asset_id": "p1", "ts": now - 900.0, "values": {"x": 1.0}}
    label = parse_label(orjson.dumps(reading | {"label": "normal", "operator": "lee"}), now=now)
    assert store.add_label(label, Source("labels", 1, 0)) == Taken.NEW
    assert [(r.key, r.alert_id) for r in store.latest_labels()] == [(f"reading:p1@{now - 900.0!r}", None)]


def test_ids_a_store_of_the_layout_before_kept_are_kept_one_period_from_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    store = LabelStore(path)
    store.add_alert(open_alert("a0", 100.0, {"x": 1.0}))
    store.add_alert(open_alert("a1", 200.0, {"x": 1.0}))
    store._db.execute("UPDATE alerts SET seen_at = 0")
    assert store.prune_alerts(seen_before=10.0, margin_s=0.0, now=1000.0) == 1
    store.close()
    db = sqlite3.connect(path)  # as the layout before wrote it: no time of forgetting
    db.executescript(f"ALTER TABLE forgotten DROP COLUMN forgotten_at; PRAGMA user_version = {VERSION - 1};")
    db.close()
    store = LabelStore(path)
    assert store.prune_forgotten(forgotten_before=5000.0, now=5000.0) == 0  # from now on: one period
    assert store.forgotten("a0") == ("p1", 100.0)
    assert store.prune_forgotten(forgotten_before=5001.0, now=6000.0) == 1
    assert store.forgotten("a0") is None
