"""An alert event says which of the opening record's sensors the daemon imputed (records.missing_policy
``impute``): null among its values, named in ``imputed``, and flagged on every top sensor it fed."""

from __future__ import annotations

from collections import namedtuple
from types import SimpleNamespace

import numpy as np
import orjson
from plant_data import FEATURES, normal
from prometheus_client import CollectorRegistry

from pipeline import alertscmd
from pipeline.alertevents import imputed_sensors, sensor_tag
from pipeline.carryover import open_episodes
from pipeline.config import RecordSettings, Settings
from pipeline.features import PlantFeatures
from pipeline.hotswap import bind_model
from pipeline.metrics import PipelineMetrics
from pipeline.plantmodel import train_plant_model
from pipeline.processing import BatchProcessor
from pipeline.simulator import Fleet

Rec = namedtuple("Rec", "topic partition offset key value")


def _processor(fitted, **alerts) -> BatchProcessor:
    settings = Settings.model_validate(
        {
            "alerts": {"open_after": 1, "window": 1, "resolve_after": 3, "top_sensors": 4} | alerts,
            "records": {"missing_policy": "impute"},
        }
    )
    return BatchProcessor(settings, fitted, "v7", PipelineMetrics(CollectorRegistry()))


def _record(asset: str, ts: float, row: np.ndarray, *, left_out: str) -> bytes:
    values = {name: float(x) for name, x in zip(FEATURES, row, strict=True) if name != left_out}
    return orjson.dumps({"asset_id": asset, "ts": ts, "values": values, "schema": 1})


def test_an_alert_event_names_the_sensor_the_daemon_imputed(fitted) -> None:
    # Before, the imputed sensor was simply absent from the event's values, and a top sensor whose
    # value was the training mean the daemon put in its place looked like a reading.
    proc = _processor(fitted)
    bad = normal(np.random.default_rng(1), 1)[0] + np.array([9.0, 0, 0, 0])
    out = proc.process([Rec("in", 0, 0, b"p", _record("p", 1.0, bad, left_out="vibration"))], now=0.0)
    (msg,) = [m for m in out.messages if m.topic == "anomaly-alerts"]
    event = orjson.loads(msg.value)
    assert event["state"] == "open" and event["imputed"] == ["vibration"]
    assert event["values"]["vibration"] is None and event["values"]["flow_a"] == float(bad[0])
    # The stand-in is the training mean: it cannot raise the score, so it is never named as a cause
    # (a derived feature fed by an imputed sensor can be, flagged: the test below).
    flags = {s["sensor"]: s["imputed"] for s in event["top_sensors"]}
    assert flags["flow_a"] is False and "vibration" not in flags
    # The resolution says the same, and so does an episode carried over from the topic.
    resolved = proc.sweep(now=1e9)
    (end,) = [orjson.loads(m.value) for m in resolved if m.topic == "anomaly-alerts"]
    assert (
        end["state"] == "resolved" and end["imputed"] == ["vibration"] and end["values"]["vibration"] is None
    )
    assert end["top_sensors"] == event["top_sensors"]
    [(carried,)] = open_episodes([event], input_topic="in").values()
    later = _processor(fitted, quiet_s=10.0)
    later.carry_over(("in", 0), [carried], now=0.0, replayed={})
    (again,) = [orjson.loads(m.value) for m in later.sweep(now=100.0)]
    assert again["imputed"] == ["vibration"] and again["top_sensors"] == event["top_sensors"]


def test_an_event_without_an_imputed_sensor_says_so(fitted) -> None:
    proc = _processor(fitted)
    bad = normal(np.random.default_rng(1), 1)[0] + np.array([9.0, 0, 0, 0])
    record = orjson.dumps(
        {"asset_id": "p", "ts": 1.0, "values": dict(zip(FEATURES, bad.tolist(), strict=True))}
    )
    out = proc.process([Rec("in", 0, 0, b"p", record)], now=0.0)
    event = orjson.loads(next(m.value for m in out.messages if m.topic == "anomaly-alerts"))
    assert "imputed" not in event and not any(s["imputed"] for s in event["top_sensors"])


def test_imputed_sensors_are_the_inputs_a_record_lacks_or_holds_as_no_finite_number() -> None:
    values = {"a": 1.0, "b": None, "c": float("nan"), "e": 10**400, "x": None}
    assert imputed_sensors(values, ["a", "b", "c", "d", "e"]) == ["b", "c", "d", "e"]


def test_a_derived_feature_from_an_imputed_sensor_says_so() -> None:
    history = Fleet(3, seed=11, run=0).run(3600, 10.0)
    model = train_plant_model(history, seed=0, max_epochs=1, time_budget=None)
    active = bind_model(model, "v1", RecordSettings(missing_policy="impute"))
    spec = PlantFeatures.from_model(model)
    assert spec is not None
    row = np.array(spec.ranges["pump-01"]).mean(axis=1)
    ranked = [("head_pu", 0.4), ("efficiency_ratio", 0.2), ("vibration_pu", 0.1)]
    top = active.top_sensors(ranked, row, "pump-01", imputed=["suction_pressure_bar"])
    assert [s["imputed"] for s in top] == [True, True, False]  # both use the pressure rise
    assert [sensor_tag(s) for s in top][0] == "head_pu (imputed)"
    assert not any(s["imputed"] for s in active.top_sensors(ranked, row, "pump-01"))


def test_the_alerts_console_marks_an_imputed_top_sensor(monkeypatch) -> None:
    event = {
        "alert_id": "a1",
        "asset_id": "p",
        "state": "open",
        "opened_at": 1.0,
        "ts": 1.0,
        "score": 0.9,
        "model_version": "v7",
        "top_sensors": [{"sensor": "flow_a", "imputed": False}, {"sensor": "vibration", "imputed": True}],
        "values": {"flow_a": 9.0, "vibration": None},
        "imputed": ["vibration"],
    }
    topics = {"anomaly-alerts": [SimpleNamespace(value=orjson.dumps(event))]}
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, topic, *_: topics.get(topic, []))
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    assert episode.sensor_tags() == ["flow_a", "vibration (imputed)"]
    assert episode.as_dict()["imputed"] == ["vibration"]


def test_an_episode_carried_over_by_a_model_of_other_sensors_resolves_with_what_its_open_said(
    fitted, train_rows
) -> None:
    # The resolution worked the imputed sensors out again with the model in use then: a daemon
    # restarted with a model that does not read the sensor carried the episode over and resolved it
    # naming none, while its top sensors still said imputed (and one reading a sensor the record
    # lacked would have named that one, which nothing had imputed).
    from dhag import DHAG

    proc = _processor(fitted)
    bad = normal(np.random.default_rng(1), 1)[0] + np.array([9.0, 0, 0, 0])
    out = proc.process([Rec("in", 0, 0, b"p", _record("p", 1.0, bad, left_out="vibration"))], now=0.0)
    event = orjson.loads(next(m.value for m in out.messages if m.topic == "anomaly-alerts"))
    [(carried,)] = open_episodes([event], input_topic="in").values()
    other = DHAG(max_epochs=2, batch_size=128, feature_names=FEATURES[:3], random_state=0)
    later = _processor(other.fit(train_rows[:, :3]), quiet_s=10.0)
    later.carry_over(("in", 0), [carried], now=0.0, replayed={})
    (end,) = [orjson.loads(m.value) for m in later.sweep(now=100.0)]
    assert end["state"] == "resolved" and end["imputed"] == event["imputed"] == ["vibration"]
    assert end["values"] == event["values"] and end["top_sensors"] == event["top_sensors"]
