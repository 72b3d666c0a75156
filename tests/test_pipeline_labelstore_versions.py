"""The label store's layout version (SQLite ``user_version``): stores written before it was recorded
open and keep their rows, a newer store and a file that is no label store are refused at open,
untouched, with what to do."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.errors import LabelStoreError
from pipeline.labels import Label, Source
from pipeline.labelschema import VERSION
from pipeline.labelstore import LabelStore, Taken
from pipeline.retrain.command import EXIT_STORE, run_retrain

# The layout every store had before the version was recorded (user_version 0), as those releases
# wrote it; the earliest of them lacked alerts.started_at.
UNVERSIONED = """
CREATE TABLE alerts (alert_id TEXT PRIMARY KEY, asset_id TEXT NOT NULL, opened_at REAL NOT NULL,
    started_at REAL, resolved_at REAL, score REAL, threshold REAL, model_version TEXT,
    values_json TEXT NOT NULL, seen_at REAL NOT NULL);
CREATE INDEX alerts_asset ON alerts (asset_id, opened_at);
CREATE TABLE labels (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT, asset_id TEXT NOT NULL,
    ts REAL NOT NULL, values_json TEXT NOT NULL,
    label TEXT NOT NULL CHECK (label IN ('anomaly', 'normal')), operator TEXT NOT NULL, note TEXT,
    given_at REAL NOT NULL, received_at REAL NOT NULL, source TEXT NOT NULL UNIQUE);
CREATE INDEX labels_alert ON labels (alert_id);
CREATE INDEX labels_asset_ts ON labels (asset_id, ts);
CREATE TABLE pending (source TEXT PRIMARY KEY, alert_id TEXT NOT NULL, raw BLOB NOT NULL,
    first_seen REAL NOT NULL);
CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, asset_id TEXT NOT NULL, ts REAL NOT NULL,
    values_json TEXT NOT NULL, UNIQUE (asset_id, ts));
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def _unversioned(path: Path, *, started_at: bool = True) -> None:
    db = sqlite3.connect(path)
    db.executescript(UNVERSIONED if started_at else UNVERSIONED.replace("    started_at REAL, ", "    "))
    db.execute(
        "INSERT INTO alerts (alert_id, asset_id, opened_at, resolved_at, values_json, seen_at)"
        " VALUES ('a1', 'p1', 100.0, 160.0, '{\"x\": 1.0}', 0)"
    )
    db.execute(
        "INSERT INTO labels (alert_id, asset_id, ts, values_json, label, operator, given_at, received_at,"
        " source) VALUES ('a1', 'p1', 100.0, '{\"x\": 1.0}', 'normal', 'kim', 200.0, 200.0, 'labels/0/0')"
    )
    db.execute("INSERT INTO readings (asset_id, ts, values_json) VALUES ('p1', 50.0, '{\"x\": 1.0}')")
    db.execute("INSERT INTO state VALUES ('last_run_at', '123.0')")
    db.commit()
    db.close()


def test_a_new_store_records_its_layout_version(tmp_path: Path) -> None:
    LabelStore(tmp_path / "labels.sqlite").close()
    assert _user_version(tmp_path / "labels.sqlite") == VERSION >= 1


@pytest.mark.parametrize("started_at", [True, False], ids=["current-layout", "before-started_at"])
def test_a_store_written_before_the_version_opens_keeps_its_rows_and_is_upgraded(
    tmp_path: Path, started_at: bool
) -> None:
    path = tmp_path / "labels.sqlite"
    _unversioned(path, started_at=started_at)
    store = LabelStore(path)
    assert [(r.alert_id, r.y, r.operator) for r in store.latest_labels()] == [("a1", 0, "kim")]
    assert store.alert("a1")["started_at"] in (None, 100.0) and store.get_state("last_run_at") == "123.0"
    assert store.normal_sample(margin_s=1.0)[0][:2] == ("p1", 50.0)
    lab = Label.model_validate({"alert_id": "a1", "label": "anomaly", "operator": "lee", "ts": 300})
    assert store.add_label(lab, Source("labels", 0, 1))
    store.close()
    assert _user_version(path) == VERSION
    again = LabelStore(path)  # and opens again as a store of this version
    assert [r.operator for r in again.latest_labels()] == ["lee"]


def test_a_store_of_version_1_is_upgraded_in_place_and_repeats_then_count_once(tmp_path: Path) -> None:
    # Version 1: the unversioned layout with alerts.started_at, before labels recorded their repeats.
    path = tmp_path / "labels.sqlite"
    _unversioned(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 1")
    db.close()
    store = LabelStore(path)
    assert [(h["label"], h["operator"]) for h in store.history("a1")] == [("normal", "kim")]
    lab = Label.model_validate({"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 260})
    assert store.add_label(lab, Source("labels", 0, 1)) == Taken.REPEAT
    assert store.label_count() == 1 and store.history("a1")[0]["repeats"] == 1
    store.close()
    assert _user_version(path) == VERSION == 4
    assert LabelStore(path).counts()["repeated_labels"] == 1


def test_a_store_of_version_1_lacking_a_column_it_had_is_no_label_store(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    _unversioned(path, started_at=False)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 1")
    db.close()
    with pytest.raises(LabelStoreError, match=r"alerts \(other columns\)"):
        LabelStore(path)


def test_a_store_of_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    _unversioned(path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.execute("CREATE TABLE verdicts (id INTEGER PRIMARY KEY)")  # what that version added
    db.close()
    before = path.read_bytes()
    with pytest.raises(LabelStoreError) as info:
        LabelStore(path)
    text = str(info.value)
    assert str(path) in text and f"version {VERSION + 1}" in text and f"up to {VERSION}" in text
    assert "newer" in text
    assert path.read_bytes() == before and not Path(f"{path}-wal").exists()


@pytest.mark.parametrize("user_version", [0, 3])
def test_another_sqlite_database_is_refused_untouched(tmp_path: Path, user_version: int) -> None:
    # Before: the label store's tables were created inside it, beside its own.
    path = tmp_path / "inventory.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE parts (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO parts (name) VALUES ('bearing')")
    db.execute(f"PRAGMA user_version = {user_version}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(LabelStoreError, match="is not a label store") as info:
        LabelStore(path)
    assert str(path) in str(info.value) and "parts" in str(info.value)
    assert path.read_bytes() == before


def test_a_table_of_the_store_with_other_columns_is_no_label_store(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE state (name TEXT, counter INTEGER)")
    db.close()
    with pytest.raises(LabelStoreError, match="is not a label store"):
        LabelStore(path)


def test_the_retrainer_refuses_a_newer_store_with_exit_6_and_what_to_do(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "labels.sqlite"
    LabelStore(store).close()
    db = sqlite3.connect(store)
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "k:9092"},
            "model": {"registry": str(tmp_path)},
            "retrain": {"label_store": str(store)},
            "metrics": {"enabled": False},
        }
    )
    assert run_retrain(settings, once=True) == EXIT_STORE
    assert f"the label store {store} cannot be used" in caplog.text
    assert "-wal and -shm" in caplog.text and "DhagRetrainerDown" in caplog.text


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_store_path_that_is_no_regular_file_is_refused_naming_what_it_is(tmp_path: Path, kind: str) -> None:
    # Before: a folder gave "unable to open database file" and a FIFO "disk I/O error", and the advice
    # for a damaged store (move it aside, restore a backup), though nothing was damaged.
    path = tmp_path / "labels.sqlite"
    if kind == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)
    expected = rf"labels.sqlite is a {kind}, not a file: .*retrain.label_store"
    with pytest.raises(LabelStoreError, match=expected):
        LabelStore(path)
