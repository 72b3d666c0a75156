"""A reading a plant model cannot score is dead-lettered naming the raw sensors it holds, not only the
derived feature that overflowed: the record, and the plant's HMI, know only the raw ones."""

from __future__ import annotations

from collections import namedtuple

import orjson
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.features import INPUT_SENSORS
from pipeline.metrics import PipelineMetrics
from pipeline.plantmodel import train_plant_model
from pipeline.processing import BatchProcessor
from pipeline.simulator import Fleet

Rec = namedtuple("Rec", "topic partition offset key value")


def test_a_value_too_large_for_a_plant_model_names_the_raw_sensor_and_its_value() -> None:
    # Before: "Feature 'flow_pu' has 1 value(s) too large ...": a name the record does not hold.
    history = Fleet(3, seed=11, run=0).run(3600, 10.0)
    model = train_plant_model(history, seed=0, max_epochs=1, time_budget=None)
    proc = BatchProcessor(Settings(), model, "v1", PipelineMetrics(CollectorRegistry()))
    row = history[history.asset_id == "pump-01"].iloc[0]
    values = {s: float(row[s]) for s in INPUT_SENSORS} | {"flow_m3h": 1e300}
    record = orjson.dumps({"asset_id": "pump-01", "ts": 1.0, "values": values})
    out = proc.process([Rec("in", 0, 7, b"pump-01", record)], now=0.0)
    (dlq,) = [m for m in out.messages if m.topic == proc.dlq_topic]
    headers = dict(dlq.headers)
    assert headers["dlq.reason"] == b"scoring_error"
    assert "'flow_pu' = " in headers["dlq.detail"].decode()
    assert "(derived from flow_m3h = 1e+300) is too large" in headers["dlq.detail"].decode()
