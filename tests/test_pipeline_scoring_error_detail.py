"""A reading the model cannot score is dead-lettered with a detail about that one record: the sensors
at fault and their values, not a row number of the batch the model was handed."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import orjson
from pipeline_kafka import reading
from plant_data import FEATURES, near_float32_limit, normal
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value")


def _detail(fitted, bad: bytes) -> str:
    proc = BatchProcessor(Settings(), fitted, "v1", PipelineMetrics(CollectorRegistry()))
    rows = normal(np.random.default_rng(9), 3)
    recs = [Rec("in", 0, i, b"n", reading("n", float(i), r)) for i, r in enumerate(rows)]
    recs.insert(2, Rec("in", 0, 40, b"x", bad))
    out = proc.process(recs, now=0.0)
    (dlq,) = [m for m in out.messages if m.topic == proc.dlq_topic]
    assert dict(dlq.headers)["dlq.reason"] == b"scoring_error"
    return dict(dlq.headers)["dlq.detail"].decode()


def test_a_value_too_large_to_standardise_is_named_without_a_row_of_the_batch(fitted) -> None:
    # Before: "... has 1 value(s) too large for the model to score (first at row 0: ...)": row 0 of a
    # one-row matrix the record was scored alone in, neither its place in the batch nor its offset.
    values = dict(zip(FEATURES, normal(np.random.default_rng(1), 1)[0].tolist(), strict=True))
    detail = _detail(fitted, orjson.dumps({"asset_id": "x", "ts": 1.0, "values": values | {"flow_b": 1e300}}))
    assert "row" not in detail, detail
    assert "'flow_b' = 1e+300" in detail, detail


def test_a_reading_the_network_overflows_on_names_its_sensors_furthest_from_training(fitted) -> None:
    # Before: "1 row(s) too large for the model to score: the network overflows float32 on them (first:
    # row 0)": no sensor named, so the gateway's owner could not tell which reading to look at.
    overflows, _ = near_float32_limit(fitted)
    detail = _detail(fitted, reading("x", 1.0, overflows))
    assert "row" not in detail, detail
    assert "network overflows" in detail, detail
    pre = fitted.preprocessor_
    z = [abs(v - pre.means_[n]) / pre.scales_[n] for n, v in zip(FEATURES, overflows.tolist(), strict=True)]
    first = int(np.argmax(z))
    assert f"furthest from training: {FEATURES[first]!r} = {overflows[first]:.6g}" in detail, detail
