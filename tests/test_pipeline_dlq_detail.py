"""A dead letter's ``dlq.detail`` header is cut to its byte limit at a character boundary: a detail that
quotes a record's long non-ASCII sensor names stays readable UTF-8."""

from __future__ import annotations

from collections import namedtuple

import orjson
import pytest
from plant_data import FEATURES
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value timestamp timestamp_type")


@pytest.mark.parametrize("name", ["é" * 700, "xé" * 400, "€" * 500, "x€" * 400])
def test_a_long_detail_is_cut_at_a_character_boundary(fitted, name: str) -> None:
    proc = BatchProcessor(Settings(), fitted, "v1", PipelineMetrics(CollectorRegistry()))
    values = dict.fromkeys(FEATURES[:-1], 1.0) | {name: 1.0}  # the model's last sensor is missing
    raw = orjson.dumps({"asset_id": "p1", "ts": 1.0, "values": values})
    out = proc.process([Rec("in", 0, 0, b"p1", raw, -1, 0)], now=0.0)
    (letter,) = [m for m in out.messages if m.topic == proc.dlq_topic]
    detail = dict(letter.headers)["dlq.detail"]
    assert 900 < len(detail) <= 1000
    text = detail.decode("utf-8")  # before, the cut could split a character: invalid UTF-8
    assert text.startswith(f"sensor(s) '{FEATURES[-1]}' missing") and name[:50] in text
