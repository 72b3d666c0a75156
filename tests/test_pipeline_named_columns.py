"""The daemon and the retrainer on a model fitted on named columns without ``feature_names`` (every
``dhag train`` model): their model input is built in the model's feature order, and they hand it to the
model by name, so dhag's warning about an array read by position (true of a user's array) is not
logged by them on every model load, scoring batch and retraining run."""

from __future__ import annotations

import logging
from collections import namedtuple
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from log_support import own_records
from pipeline_kafka import reading
from plant_data import FEATURES, fault_cluster, gross_outliers, normal
from prometheus_client import CollectorRegistry
from retrain_data import SETTINGS, _labelled, _readings

from dhag import DHAG
from pipeline import registry
from pipeline.config import Settings
from pipeline.hotswap import ModelReloader
from pipeline.labelstore import LabelStore
from pipeline.metrics import PipelineMetrics, RetrainMetrics
from pipeline.processing import BatchProcessor
from pipeline.retrain import run_cycle
from pipeline.retrain.service import Retrainer

Rec = namedtuple("Rec", "topic partition offset key value")
POSITIONAL = "has no feature names"


@pytest.fixture(scope="module")
def frame_fitted(train_rows: np.ndarray) -> DHAG:
    """A model fitted on a DataFrame, its features named by its columns (no ``feature_names``)."""
    return DHAG(max_epochs=15, batch_size=128, random_state=0).fit(pd.DataFrame(train_rows, columns=FEATURES))


def _positional(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in own_records(caplog) if POSITIONAL in r.getMessage()]


def test_the_daemon_loads_scores_explains_and_swaps_such_a_model_without_the_warning(
    frame_fitted: DHAG, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    registry.publish(tmp_path, frame_fitted, "v1")
    settings = Settings.model_validate(
        {
            "kafka": {"topics": {"scores": "scores"}},
            "model": {"registry": str(tmp_path), "reload_check_s": 1.0},
            "alerts": {"open_after": 2, "window": 3, "resolve_after": 3},
        }
    )
    metrics = PipelineMetrics(CollectorRegistry())
    version, model = registry.load_current(tmp_path)
    processor = BatchProcessor(settings, model, version, metrics)
    now = [0.0]
    reloader = ModelReloader(settings.model, processor, metrics, clock=lambda: now[0])
    rows = np.vstack([normal(np.random.default_rng(1), 4), gross_outliers(np.random.default_rng(2), 3)])
    recs = [Rec("in", 0, i, b"p", reading("p", 1e9 + i, row)) for i, row in enumerate(rows)]
    out = processor.process(recs, now=1.0)
    assert out.scored == len(rows)
    assert any(m.topic == "anomaly-alerts" for m in out.messages)  # explained, with suspect sensors
    registry.publish(tmp_path, frame_fitted, "v2")
    now[0] += 2.0
    assert reloader.check() is True and processor.model_version == "v2"
    out = processor.process([r._replace(offset=r.offset + 10) for r in recs], now=2.0)
    assert out.scored == len(rows)
    assert _positional(caplog) == []
    # A user's own call with an array still hears that its columns are taken by position.
    served = processor.active.model
    served.decision_function(normal(np.random.default_rng(3), 2))
    assert len(_positional(caplog)) == 1


def test_a_retrainer_run_and_its_drift_watch_on_such_a_model_log_no_such_warning(
    frame_fitted: DHAG, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    root = tmp_path / "registry"
    registry.publish(root, frame_fitted, "v1")
    rng = np.random.default_rng(4)
    settings = Settings.model_validate({"model": {"registry": str(root)}, "retrain": SETTINGS.model_dump()})
    retrainer = Retrainer(
        settings, LabelStore(":memory:"), RetrainMetrics(CollectorRegistry()), bootstrap_servers="unused:9092"
    )
    retrainer._watch_drift([(a, 60.0 * i, v) for i, (a, _, v) in enumerate(_readings(normal(rng, 300), 0.0))])
    labelled = _labelled(fault_cluster(rng, 30), 1, 10.0) + _labelled(normal(rng, 10), 0, 12.0, first_id=100)
    result = run_cycle(root, labelled, _readings(normal(rng, 1500), 0.0), SETTINGS)
    assert result.outcome in {"promoted", "rejected"}
    assert _positional(caplog) == []
