"""A plant whose sensors changed (one renamed or removed) under the current model: a retraining run is
refused naming the sensor, never trained on what little still carries it, nor on the parent's
reference sample alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plant_data import FEATURES, normal
from retrain_data import SETTINGS, _readings

from dhag import DHAG
from pipeline import registry as reg
from pipeline.retrain import run_cycle, split, train_candidate
from pipeline.retrain.sensorset import SensorsChangedError


def _renamed(rows: list, old: str, new: str) -> list:
    return [(a, t, {(new if k == old else k): x for k, x in v.items()}) for a, t, v in rows]


def test_a_run_on_readings_that_lack_a_sensor_the_model_reads_is_refused_naming_it(
    registry: Path, fitted: DHAG
) -> None:
    # Before, the readings lacking it were left out one by one: the candidate trained on the parent's
    # reference sample alone and was published, or the run said only "0 normal training rows".
    reg.publish(registry, fitted, "v2", reference=_readings(normal(np.random.default_rng(1), 600), 0.0))
    recent = _renamed(_readings(normal(np.random.default_rng(2), 800), 10_000.0), FEATURES[0], "speed")
    with pytest.raises(SensorsChangedError) as raised:
        run_cycle(registry, [], recent, SETTINGS)
    assert str(raised.value) == (
        f"800 of the 800 recent normal readings lack sensor(s) the current model reads: {FEATURES[0]!r} "
        "(800); they carry sensor(s) it does not read: 'speed': a sensor renamed or removed in the plant "
        "needs a model trained on the new sensors (dhag train), not a retraining run"
    )
    assert [m.version for m in reg.list_models(registry)] == ["v1", "v2"]


def test_a_few_readings_lacking_a_sensor_are_left_out_and_the_run_trains(fitted: DHAG) -> None:
    rows = _readings(normal(np.random.default_rng(3), 800), 0.0)
    rows[:10] = [(a, t, {k: x for k, x in v.items() if k != FEATURES[1]}) for a, t, v in rows[:10]]
    rows = [(a, t, v | {"ambient_c": 20.0}) for a, t, v in rows]  # one the model never read: no matter
    candidate = train_candidate(fitted, split([], rows, 0.2), SETTINGS)
    assert list(candidate.feature_names_in_) == FEATURES
