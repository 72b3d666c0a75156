"""A reading of an asset a plant model has no reference for (not in its training history, or retired)
is scaled by the fleet's median reference: scored, but less surely. That is counted, without a label
per asset, so that a dashboard shows how much of the stream is scored so."""

from __future__ import annotations

import logging
from collections import namedtuple

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.features import INPUT_SENSORS, PlantFeatures
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


def test_assets_without_a_reference_beyond_the_thousand_named_are_said_to_go_unnamed(caplog) -> None:
    # Before, the 1001st asset without a reference went unlogged without a word, as every one after it:
    # a gateway that once sent a thousand made-up ids left a real new asset out of the log its runbook
    # has searched, and nothing said that the log had stopped naming them.
    features = PlantFeatures({"p1": [1.0] * 9}, {})
    raw = np.ones((1002, len(INPUT_SENSORS)))
    with caplog.at_level(logging.WARNING, logger="pipeline.features"):
        features.transform(raw[:1001], [f"made-up-{i}" for i in range(1001)])
        features.transform(raw, ["pump-31"] * 1002)
    named = [r.getMessage() for r in caplog.records if "is not in the model's references" in r.getMessage()]
    assert len(named) == 1000 and "'made-up-999'" in named[-1]
    (said,) = [r.getMessage() for r in caplog.records if "no longer named" in r.getMessage()]
    assert "1000 assets" in said and "'made-up-1000'" in said and "dhag_readings_unreferenced_total" in said
