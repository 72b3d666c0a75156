"""A reading of an asset a plant model has no reference for (not in its training history, or retired)
is scaled by the fleet's median reference: scored, but less surely. That is counted, without a label
per asset, so that a dashboard shows how much of the stream is scored so."""

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


def test_readings_of_an_asset_without_a_reference_are_counted(caplog) -> None:
    # Before: one log line per asset (up to a thousand) and no metric at all.
    history = Fleet(3, seed=11, run=0).run(3600, 10.0)
    model = train_plant_model(history, seed=0, max_epochs=1, time_budget=None)
    reg = CollectorRegistry()
    proc = BatchProcessor(Settings(), model, "v1", PipelineMetrics(reg))
    assert reg.get_sample_value("dhag_readings_unreferenced_total") == 0
    row = history[history.asset_id == "pump-01"].iloc[0]
    values = {s: float(row[s]) for s in INPUT_SENSORS}
    recs = [
        Rec("in", 0, i, asset.encode(), orjson.dumps({"asset_id": asset, "ts": 1.0 + i, "values": values}))
        for i, asset in enumerate(["pump-01", "pump-77", "pump-01", "pump-77", "fan-99"])
    ]
    out = proc.process(recs, now=0.0)
    assert out.scored == 5
    assert reg.get_sample_value("dhag_readings_unreferenced_total") == 3
    assert caplog.text.count("not in the model's references") == 2  # a line per asset, as before
