"""A label by reading names its asset as the plant's sensor records do (``records.asset_id_pattern``):
a plant whose asset ids that setting widens has its readings' labels taken, not dead-lettered."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.labels import LabelError, LabelReason, parse_label
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer

WIDER = r"^[A-Za-z0-9][A-Za-z0-9 ._:/#-]{0,199}$"  # "Line 2/Pump #7"


def _reading_label(asset_id: str) -> bytes:
    return orjson.dumps(
        {"asset_id": asset_id, "ts": 1000.0, "values": {"x": 1.0}, "label": "anomaly", "operator": "kim"}
    )


def test_a_label_names_its_asset_by_the_pattern_it_is_given_else_the_default() -> None:
    raw = _reading_label("Line 2/Pump #7")
    assert parse_label(raw, asset_pattern=WIDER).asset_id == "Line 2/Pump #7"
    with pytest.raises(LabelError) as caught:
        parse_label(raw)
    assert caught.value.reason == LabelReason.BAD_VALUE and "asset_id" in caught.value.detail
    with pytest.raises(LabelError) as caught:  # narrower: an id no record of the plant carries
        parse_label(_reading_label("p1"), asset_pattern=r"^pump-\d+$")
    assert caught.value.reason == LabelReason.BAD_VALUE and "records.asset_id_pattern" in caught.value.detail


def test_the_retrainer_takes_a_label_of_a_reading_whose_asset_the_records_pattern_allows(
    tmp_path: Path,
) -> None:
    # The retrainer samples such an asset's readings, and its alerts name it; a label of one of its
    # readings went to the DLQ as bad_value, the operator's answer lost.
    settings = Settings.model_validate(
        {
            "model": {"registry": str(tmp_path)},
            "records": {"asset_id_pattern": WIDER},
            "retrain": {"on_drift": False},
        }
    )
    registry = CollectorRegistry()
    retrainer = Retrainer(settings, LabelStore(":memory:"), RetrainMetrics(registry), bootstrap_servers="x:1")
    retrainer.clock = lambda: 2000.0
    sent: list[object] = []
    retrainer._dead_letters.send = lambda *args, **kw: sent.append(args)  # type: ignore[method-assign]
    value = _reading_label("Line 2/Pump #7")
    message = SimpleNamespace(topic="labels", partition=0, offset=0, key=b"k", value=value)
    retrainer._labels([message], producer=None)
    assert sent == []
    assert [(r.asset_id, r.y) for r in retrainer.store.latest_labels()] == [("Line 2/Pump #7", 1)]
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 1
