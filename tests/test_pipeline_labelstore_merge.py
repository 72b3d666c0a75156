"""A label store of layout version 2 could hold, for one reading, the labels an alert it forgot left and
a label by reading stored apart from them (that version stored a label by reading of a forgotten alert's
reading as another reading's): both trained, contradictory data for one reading counted twice. Opened by
this version, they are merged once, as the labels would have been stored had they come to it."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from pipeline.labelschema import VERSION
from pipeline.labelstore import LabelStore

# The layout version 2 wrote (no table forgotten).
VERSION_2 = """
CREATE TABLE alerts (alert_id TEXT PRIMARY KEY, asset_id TEXT NOT NULL, opened_at REAL NOT NULL,
    started_at REAL, resolved_at REAL, score REAL, threshold REAL, model_version TEXT,
    values_json TEXT NOT NULL, seen_at REAL NOT NULL);
CREATE INDEX alerts_asset ON alerts (asset_id, opened_at);
CREATE TABLE labels (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT, asset_id TEXT NOT NULL,
    ts REAL NOT NULL, values_json TEXT NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('anomaly', 'normal')), operator TEXT NOT NULL, note TEXT,
    given_at REAL NOT NULL, received_at REAL NOT NULL, source TEXT NOT NULL UNIQUE,
    repeat_of INTEGER, sent_id TEXT);
CREATE INDEX labels_alert ON labels (alert_id);
CREATE INDEX labels_asset_ts ON labels (asset_id, ts);
CREATE TABLE pending (source TEXT PRIMARY KEY, alert_id TEXT NOT NULL, raw BLOB NOT NULL,
    first_seen REAL NOT NULL);
CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, asset_id TEXT NOT NULL, ts REAL NOT NULL,
    values_json TEXT NOT NULL, UNIQUE (asset_id, ts));
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = 2;
"""

# (alert_id, ts, values, label, operator, given_at, received_at, source): a1 and a0 were forgotten (only
# a2, p1's newest, is held); the labels by reading (no alert_id) of their readings were stored apart.
LABELS = [
    ("a0", 500.0, '{"x": 5.0, "y": 6.0}', "normal", "mia", 600.0, 600.0, "labels/0/0"),
    ("a1", 1000.0, '{"x": 1.0, "y": 2.0}', "anomaly", "kim", 1100.0, 1100.0, "labels/0/1"),
    (None, 1000.0004, '{"x": 1.0}', "normal", "lee", 2000.0, 2000.0, "labels/1/0"),
    (None, 500.0, '{"x": 5.0}', "normal", "mia", 2100.0, 2100.0, "labels/1/1"),
    (None, 3000.0, '{"x": 3.0}', "anomaly", "kim", 2200.0, 2200.0, "labels/1/2"),
]


def _version_2(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(VERSION_2)
    db.execute(
        "INSERT INTO alerts (alert_id, asset_id, opened_at, values_json, seen_at)"
        " VALUES ('a2', 'p1', 5000.0, '{\"x\": 9.0}', 0)"
    )
    db.executemany(
        "INSERT INTO labels (alert_id, asset_id, ts, values_json, label, operator, given_at, received_at,"
        " source) VALUES (?, 'p1', ?, ?, ?, ?, ?, ?, ?)",
        LABELS,
    )
    db.commit()
    db.close()


def test_a_version_2_store_merges_a_readings_labels_with_those_a_forgotten_alert_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "labels.sqlite"
    _version_2(path)
    caplog.set_level(logging.INFO, logger="pipeline.labelstore")
    store = LabelStore(path)
    latest = [(r.key, r.operator, r.y, r.values) for r in store.latest_labels()]
    assert latest == [
        ("alert:a0", "mia", 0, {"x": 5.0, "y": 6.0}),
        ("alert:a1", "lee", 0, {"x": 1.0, "y": 2.0}),  # the newest answer about that reading
        ("reading:p1@3000.0", "kim", 1, {"x": 3.0}),  # no forgotten alert's: as it was
    ]
    assert [h["operator"] for h in store.history("a1")] == ["kim", "lee"]
    assert store.history("a0")[0]["repeats"] == 1 and store.label_count() == 4  # mia's, sent again
    assert "2 label(s) by reading joined the labels of 2 forgotten alert(s)" in caplog.text
    assert (
        "1 of them repeat(s) an earlier label; the answer that counts changed for 1 reading(s)" in caplog.text
    )
    store.close()
    caplog.clear()
    again = LabelStore(path)  # once: a store of this version is not merged again
    assert "joined the labels" not in caplog.text
    assert again._db.execute("PRAGMA user_version").fetchone()[0] == VERSION == 4
    assert [r.key for r in again.latest_labels()] == ["alert:a0", "alert:a1", "reading:p1@3000.0"]


def test_a_version_2_store_with_nothing_to_merge_upgrades_saying_nothing_of_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "labels.sqlite"
    db = sqlite3.connect(path)
    db.executescript(VERSION_2)
    db.close()
    caplog.set_level(logging.INFO, logger="pipeline.labelstore")
    store = LabelStore(path)
    assert store.latest_labels() == [] and "joined the labels" not in caplog.text
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == VERSION


def test_an_upgrade_that_fails_midway_leaves_the_version_2_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import labelmerge

    path = tmp_path / "labels.sqlite"
    _version_2(path)
    joins, join = [], labelmerge.join_alert

    def join_then_fail(*args: object) -> int:  # the first label joins, then the volume fills up
        if joins:
            raise sqlite3.OperationalError("database or disk is full")
        joins.append(join(*args))  # type: ignore[arg-type]
        return joins[-1]

    monkeypatch.setattr(labelmerge, "join_alert", join_then_fail)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        LabelStore(path)
    assert joins  # it failed midway, past the new table and the first join
    db = sqlite3.connect(path)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2 and "forgotten" not in tables
    stored = db.execute("SELECT alert_id, source FROM labels ORDER BY id").fetchall()
    db.close()
    assert stored == [(row[0], row[7]) for row in LABELS]  # no label joined
    monkeypatch.undo()
    store = LabelStore(path)  # upgraded whole at the next start
    assert [r.key for r in store.latest_labels()] == ["alert:a0", "alert:a1", "reading:p1@3000.0"]
