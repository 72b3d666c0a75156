"""The retrainer's inputs over time: sampled readings paired with their own times for the drift
trigger, and rejected alerts kept from outweighing the normal readings."""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path

import numpy as np
from plant_data import FEATURES, normal
from retrain_data import SETTINGS, _labelled, _readings
from test_pipeline_retrain_loop import _retrainer

from dhag import DHAG
from pipeline.labelstore import LabelStore
from pipeline.retrain import split, train_candidate


def test_the_drift_trigger_pairs_each_sampled_reading_with_its_own_time(registry: Path) -> None:
    # Readings without a sensor the model needs are left out of X: their times must go with them.
    store = LabelStore(":memory:")
    retrainer, _ = _retrainer(registry, store, [10_000.0])
    rows = _readings(normal(np.random.default_rng(3), 6), 500.0)
    del rows[1][2][FEATURES[0]], rows[4][2][FEATURES[1]]
    fed: list[list[float]] = []
    update = retrainer._drift.update
    retrainer._drift.update = lambda v, s, t, **kw: fed.append(list(t)) or update(v, s, t, **kw)  # type: ignore[method-assign]
    retrainer._watch_drift(rows)
    assert fed == [[500.0, 502.0, 503.0, 505.0]]


def test_rejected_alerts_never_outweigh_the_normal_readings(fitted: DHAG, caplog) -> None:
    # Labels are kept for good: after a year, ten copies of every rejected alert made up 97 % of the
    # "normal" rows, and each run trained longer.
    rng = np.random.default_rng(8)
    rejected = _labelled(normal(rng, 3000), 0, 10_000.0)
    data = split(rejected, _readings(normal(rng, 1500), 10_000.0), 0.3)
    with caplog.at_level(logging.INFO, logger="pipeline.retrain.samples"):
        train_candidate(copy.deepcopy(fitted), data, SETTINGS.model_copy(update={"max_epochs": 1}))
    line = next(r.getMessage() for r in caplog.records if "rejected alerts train" in r.getMessage())
    found = re.fullmatch(
        r"(\d+) of (\d+) rejected alerts train, (\d+) copies each .* of (\d+) normal rows\)", line
    )
    assert found, line
    kept, total, copies, normal_rows = map(int, found.groups())
    assert total == len(data.labelled_train) and copies == 1 and kept <= normal_rows / 3 + 1
