"""The retrainer's intake of alert events and labels, without a broker: what breaks the contract is
refused and counted, and the loop goes on (before, one such event stopped the retrainer for good)."""

from __future__ import annotations

import re
from collections import namedtuple
from pathlib import Path
from typing import Any

import orjson
import pytest
import torch
from prometheus_client import CollectorRegistry

from pipeline.config import RecordSettings, RetrainSettings
from pipeline.labels import LabelReason
from pipeline.labelstore import LabelStore, Source
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.alertfeed import AlertEventError, alert_event_of
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.intake import Intake

Msg = namedtuple("Msg", "topic partition offset key value")

GOOD = {
    "alert_id": "a1",
    "asset_id": "p1",
    "state": "open",
    "opened_at": 100.0,
    "ts": 100.0,
    "score": 0.9,
    "threshold": 0.5,
    "model_version": "v1",
    "values": {"x": 1.0, "y": 2.0},
}


class _Letters:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes | None, LabelReason, str, str | None]] = []

    def send(self, producer: Any, key, raw, reason, detail, source, first_seen, *, pending=None) -> None:  # noqa: ANN001
        self.sent.append((key, raw, reason, detail, pending))


class _Intake(Intake):
    def __init__(self, store: LabelStore, **cfg: Any) -> None:
        self.cfg = RetrainSettings(**cfg)
        self.store = store
        self.registry = CollectorRegistry()
        self.metrics = RetrainMetrics(self.registry)
        self.clock = lambda: 1000.0
        self.monotonic = lambda: 0.0
        self._dead_letters = _Letters()  # type: ignore[assignment]
        self._watched = {}
        self._asset_re = re.compile(RecordSettings().asset_id_pattern)
        self._max_future_s = RecordSettings().max_future_s


def _events(*events: dict[str, Any] | bytes) -> list[Msg]:
    return [
        Msg("alerts", 0, i, b"k", e if isinstance(e, bytes) else orjson.dumps(e))
        for i, e in enumerate(events)
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model_version": {"name": "v1"}}, "model_version"),
        ({"values": [1, 2, 3]}, "values"),
        ({"values": "oops"}, "values"),
        ({"opened_at": "100"}, "opened_at"),
        ({"ts": None}, "ts"),
        ({"score": True}, "score"),
        ({"alert_id": 7}, "alert_id"),
        ({"asset_id": ""}, "asset_id"),
        ({"state": "closed"}, "state"),
    ],
)
def test_an_alert_event_that_breaks_the_contract_is_refused_naming_the_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    raw = orjson.dumps(GOOD | change)
    with pytest.raises(AlertEventError, match=field):
        alert_event_of(raw)
    intake = _Intake(LabelStore(tmp_path / "l.sqlite"))
    intake._alerts(_events(raw, GOOD | {"alert_id": "a2"}))  # the loop goes on past it
    assert intake.registry.get_sample_value("dhag_retrain_alert_events_refused_total") == 1
    assert not intake.store.has_alert("a1") and intake.store.has_alert("a2")


@pytest.mark.parametrize("raw", [b"{oops", b"[1]", b"null", b""])
def test_an_alert_event_that_is_no_json_object_is_refused(tmp_path: Path, raw: bytes) -> None:
    intake = _Intake(LabelStore(tmp_path / "l.sqlite"))
    intake._alerts(_events(raw))
    assert intake.registry.get_sample_value("dhag_retrain_alert_events_refused_total") == 1


def test_an_alerts_sensors_that_are_no_numbers_are_not_kept_so_its_labels_still_train(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    intake = _Intake(store)
    values = {"x": 1.5, "y": 2, "on": True, "mode": "auto", "nested": [1], "bad": None}
    intake._alerts(_events(GOOD | {"values": values}))
    assert store.alert("a1")["values"] == {"x": 1.5, "y": 2}
    label = {"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 500.0}
    intake._labels([Msg("labels", 0, 0, b"a1", orjson.dumps(label))], producer=None)
    rows = [(r.asset_id, r.values) for r in store.latest_labels()]
    X, kept = FeatureMap(["x", "y"], None).matrix(rows)
    assert kept.tolist() == [True] and X.tolist() == [[1.5, 2.0]]


def test_a_pending_label_that_no_longer_passes_is_dead_lettered_not_raised(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    label = orjson.dumps(
        {"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 500.0, "note": "x" * 400}
    )
    first = _Intake(store)
    first._labels([Msg("labels", 0, 3, b"a1", label)], producer=None)
    assert store.pending_count() == 1
    # Restarted with a lower size limit, then the alert comes.
    again = _Intake(store, max_label_bytes=256)
    again._alerts(_events(GOOD))
    again._retry_pending(producer=None)
    [(key, raw, reason, detail, pending)] = again._dead_letters.sent
    assert (key, raw, reason) == (b"a1", label, LabelReason.OVERSIZED)
    assert pending is not None and pending.startswith("labels/0/3#")
    assert "256" in detail and store.latest_labels() == []


def test_a_label_waiting_for_an_alert_the_retrainer_forgot_joins_the_labels_it_left(tmp_path: Path) -> None:
    # One an earlier version kept waiting (it knew no forgotten alert): it was dead-lettered as
    # unknown_alert once label_retry_s had passed, and the correction never counted.
    store = LabelStore(tmp_path / "l.sqlite")
    intake = _Intake(store)
    intake._alerts(_events(GOOD, GOOD | {"alert_id": "a2", "opened_at": 900.0, "ts": 900.0}))
    confirm = {"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 500.0}
    intake._labels([Msg("labels", 0, 0, b"a1", orjson.dumps(confirm))], producer=None)
    store._db.execute("UPDATE alerts SET seen_at = 0")
    assert store.prune_alerts(seen_before=10.0, margin_s=0.0) == 1  # a1: a2 is p1's newest
    reject = orjson.dumps(confirm | {"label": "normal", "operator": "lee", "ts": 900.0})
    store.add_pending("a1", reject, Source.of("labels", 0, 1, reject), first_seen=1500.0)
    intake._retry_pending(producer=None)
    assert intake._dead_letters.sent == [] and store.pending_count() == 0
    assert [(r.alert_id, r.y, r.values) for r in store.latest_labels()] == [("a1", 0, GOOD["values"])]
    assert intake.registry.get_sample_value("dhag_labels_changed_total", {"label": "normal"}) == 1


def test_a_damaged_label_store_stops_the_retrainer_with_its_own_code_and_one_line(
    tmp_path: Path, caplog
) -> None:
    # Before: an sqlite3 traceback and exit 1, which the runbook read as a failed run.
    from pipeline.config import Settings
    from pipeline.retrain.command import EXIT_STORE, run_retrain

    store = tmp_path / "labels.sqlite"
    store.write_bytes(b"not a database, whatever it was" * 100)
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "k:9092"},
            "model": {"registry": str(tmp_path)},
            "retrain": {"label_store": str(store)},
            "metrics": {"enabled": False},
        }
    )
    assert run_retrain(settings, once=True) == EXIT_STORE
    assert f"the label store {store} cannot be used: file is not a database" in caplog.text
    assert "no label store of any layout version (check retrain.label_store names it)" in caplog.text


def test_a_full_volume_under_the_label_store_is_named_as_such_not_as_damage(
    tmp_path: Path, caplog, monkeypatch
) -> None:
    import sqlite3

    from pipeline.config import Settings
    from pipeline.retrain.command import EXIT_STORE, run_retrain

    def full(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("pipeline.labelstore.LabelStore.__init__", full)
    settings = Settings.model_validate(
        {
            "model": {"registry": str(tmp_path)},
            "metrics": {"enabled": False},
            "kafka": {"bootstrap_servers": "k:9092"},
        }
    )
    assert run_retrain(settings, once=True) == EXIT_STORE
    assert "cannot be used: database or disk is full" in caplog.text
    # Before: the same advice as for a damaged store, restore it or move it aside, which loses nothing
    # here only if the operator read past it.
    assert "its volume needs space" in caplog.text and "move" not in caplog.text


def test_a_damaged_label_store_is_refused_with_what_a_restore_or_a_new_store_reads_again(
    tmp_path: Path, caplog
) -> None:
    from pipeline.config import Settings
    from pipeline.retrain.command import EXIT_STORE, run_retrain

    store = tmp_path / "labels.sqlite"
    LabelStore(store).close()
    data = bytearray(store.read_bytes())
    data[100:] = b"\xff" * (len(data) - 100)  # the schema page overwritten: "malformed"
    store.write_bytes(bytes(data))
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "k:9092"},
            "model": {"registry": str(tmp_path)},
            "retrain": {"label_store": str(store)},
            "metrics": {"enabled": False},
        }
    )
    assert run_retrain(settings, once=True) == EXIT_STORE
    assert f"the label store {store} cannot be used: database disk image is malformed" in caplog.text
    # Before: it told the operator to reset the group's offsets, which a restored or new store no
    # longer needs (and which reads every topic again).
    assert "-wal and -shm" in caplog.text and "reads again what it lacks" in caplog.text
    assert "offsets reset" not in caplog.text


def test_a_misspelt_registry_stops_the_retrainer_creating_nothing(tmp_path: Path, caplog) -> None:
    from pipeline.config import Settings
    from pipeline.retrain.command import run_retrain

    missing = tmp_path / "regsitry" / "models"
    settings = Settings.model_validate(
        {
            "model": {"registry": str(missing)},
            "metrics": {"enabled": False},
            "kafka": {"bootstrap_servers": "k:9092"},
        }
    )
    assert run_retrain(settings, once=True) == 4  # before: the folders and a label store appeared there
    assert not (tmp_path / "regsitry").exists()
    assert f"there is no registry folder {str(missing)!r}" in caplog.text


def test_a_label_store_locked_by_another_process_is_busy_not_damaged(
    tmp_path: Path, caplog, monkeypatch
) -> None:
    import sqlite3

    from pipeline.config import Settings
    from pipeline.retrain.command import EXIT_BUSY, run_retrain

    def locked(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("pipeline.labelstore.LabelStore.__init__", locked)
    settings = Settings.model_validate(
        {
            "model": {"registry": str(tmp_path)},
            "metrics": {"enabled": False},
            "kafka": {"bootstrap_servers": "k:9092"},
        }
    )
    assert run_retrain(settings, once=True) == EXIT_BUSY  # not "move it aside": nothing is wrong with it
    assert "is locked by another process" in caplog.text and "move aside" not in caplog.text


def test_labels_of_one_partition_keep_their_order_when_the_wall_clock_steps_back(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    intake = _Intake(store)
    intake._alerts(_events(GOOD))
    now = [2000.0]
    intake.clock = lambda: now[0]
    confirm = {"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 500.0}
    intake._labels([Msg("labels", 0, 5, b"a1", orjson.dumps(confirm))], producer=None)
    now[0] = 1970.0  # NTP stepped the clock back 30 s
    reject = confirm | {"label": "normal", "operator": "lee", "ts": 520.0}
    intake._labels([Msg("labels", 0, 6, b"a1", orjson.dumps(reject))], producer=None)
    assert store.latest_labels()[0].operator == "lee"
    # Restarted with the clock further back: the next label still comes after the stored ones.
    again = _Intake(store)
    again.clock = lambda: 1900.0
    confirm_again = confirm | {"operator": "kim", "ts": 540.0}
    again._labels([Msg("labels", 0, 7, b"a1", orjson.dumps(confirm_again))], producer=None)
    assert store.latest_labels()[0].operator == "kim"


def test_a_label_that_waited_for_its_alert_ranks_before_a_later_one_when_the_wall_clock_steps_back(
    tmp_path: Path,
) -> None:
    # kim's answer came before its alert and waited; lee's correction came next on the same partition,
    # with the alert, while the wall clock read earlier than when kim's came. kim's counted: the two
    # were taken as received at one time, and the waiting label, stored last, ranked last.
    store = LabelStore(tmp_path / "l.sqlite")
    intake = _Intake(store)
    now = [2000.0]
    intake.clock = lambda: now[0]
    confirm = {"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 500.0}
    intake._labels([Msg("labels", 0, 5, b"a1", orjson.dumps(confirm))], producer=None)
    assert store.pending_count() == 1
    now[0] = 1970.0  # NTP stepped the clock back 30 s
    intake._alerts(_events(GOOD))
    reject = confirm | {"label": "normal", "operator": "lee", "ts": 520.0}
    intake._labels([Msg("labels", 0, 6, b"a1", orjson.dumps(reject))], producer=None)
    intake._retry_pending(producer=None)
    assert [(r.operator, r.y) for r in store.latest_labels()] == [("lee", 0)]
    # Restarted with the clock still behind: a label waiting then ranks before the next one too.
    store.add_alert(GOOD | {"alert_id": "a2", "opened_at": 200.0, "ts": 200.0})
    waiting = confirm | {"alert_id": "a3"}
    intake._labels([Msg("labels", 1, 0, b"a3", orjson.dumps(waiting))], producer=None)
    again = _Intake(store)
    again.clock = lambda: 1900.0
    again._alerts(_events(GOOD | {"alert_id": "a3", "opened_at": 300.0, "ts": 300.0}))
    again._labels([Msg("labels", 1, 1, b"a3", orjson.dumps(reject | {"alert_id": "a3"}))], producer=None)
    again._retry_pending(producer=None)
    assert [(r.alert_id, r.operator) for r in store.latest_labels()][-1] == ("a3", "lee")


def test_a_registry_without_a_current_model_stops_the_retrainer_with_an_error(tmp_path: Path, caplog) -> None:
    # It exited 4 having logged only a warning: the line that says why it stopped is an error.
    import logging

    from pipeline.config import Settings
    from pipeline.retrain.command import run_retrain

    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "k:9092"},
            "model": {"registry": str(tmp_path)},
            "retrain": {"label_store": str(tmp_path / "labels.sqlite")},
            "metrics": {"enabled": False},
        }
    )
    with caplog.at_level(logging.INFO):
        assert run_retrain(settings, once=True) == 4
    said = [r for r in caplog.records if "No model in the registry" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.ERROR]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_training_device_the_host_lacks_stops_start_up_naming_the_key(tmp_path: Path, caplog) -> None:
    # Before: the retrainer started, read its topics and failed every run at training (a run error
    # each cycle, DhagRetrainingFailing a day later), where the daemon's model.device stops start-up.
    from pipeline.cli import EXIT_CONFIG
    from pipeline.config import Settings
    from pipeline.retrain.command import run_retrain

    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "k:9092"},
            "model": {"registry": str(tmp_path)},
            "retrain": {"device": "cuda", "label_store": str(tmp_path / "labels.sqlite")},
            "metrics": {"enabled": False},
        }
    )
    assert run_retrain(settings, once=True) == EXIT_CONFIG
    assert "config error: retrain.device" in caplog.text
    assert "CUDA is not available" in caplog.text
    assert not (tmp_path / "labels.sqlite").exists()  # stopped before it opened anything


def test_a_registry_without_a_current_model_stops_the_retrainer_before_kafka(
    tmp_path: Path, caplog, monkeypatch
) -> None:
    import pipeline.topics
    from pipeline.config import Settings
    from pipeline.retrain.command import run_retrain

    def connected(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the retrainer went to Kafka")

    monkeypatch.setattr(pipeline.topics, "provision_topics", connected)
    empty = tmp_path / "models"
    empty.mkdir()
    settings = Settings.model_validate(
        {
            "model": {"registry": str(empty)},
            "metrics": {"enabled": False},
            "kafka": {"bootstrap_servers": "k:9092"},
        }
    )
    # Before: it waited for Kafka (kafka.unavailable_exit_s, then exit 3) and only then said there was
    # no model.
    assert run_retrain(settings, once=False) == 4
    assert f"No model in the registry {str(empty)!r}" in caplog.text
