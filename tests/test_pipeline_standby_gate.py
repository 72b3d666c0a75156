"""The retrain gate with a plant model's machines stopping: its gross-fault probes are made from held-out
readings taken running, and a holdout that opens with a stop no longer fails the run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dhag import DHAG
from pipeline.features import INPUT_SENSORS
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.judgement import _holdout, evaluate
from pipeline.retrain.samples import Reading, TrainingData
from pipeline.simulator import Fleet


def standby_fleet(run: int) -> Fleet:
    """Three machines for two hours, the first a standby one: stopped for 20 of every 30 minutes."""
    fleet = Fleet(3, seed=11, run=run)
    for k in range(4):
        fleet.add_stop(fleet.asset_ids[0], 600.0 + 1800.0 * k, 1800.0 * (k + 1))
    return fleet


def readings_of(history: pd.DataFrame, t0: float = 0.0) -> list[Reading]:
    """``history``'s rows as sampled readings, ``t0`` seconds later."""
    values = history[list(INPUT_SENSORS)].to_dict("records")
    return [
        (str(a), t0 + float(t), v) for a, t, v in zip(history["asset_id"], history["t"], values, strict=True)
    ]


def _held_out() -> list:
    """Held-out readings of three machines whose first one stands still for 20 of every 30 minutes,
    from its first stop on: the holdout opens with readings at standstill."""
    return [r for r in readings_of(standby_fleet(1).run(2 * 3600, 10.0)) if r[1] >= 600.0]


def test_a_holdout_opening_with_a_stop_is_judged(plant_model: DHAG) -> None:
    held = _held_out()
    fmap = FeatureMap.of(plant_model)
    assert not fmap.matrix([(a, v) for a, _, v in held[:8]])[1].all()  # the probes' first readings
    metrics = evaluate(plant_model, TrainingData([], [], [], [], reference_holdout=held))
    assert metrics["reference"] == len(fmap.running(held)) < len(held)
    assert metrics["probes"] > 0 and metrics["probe_recall"] is not None


def test_the_gates_probes_are_pushed_running_readings(plant_model: DHAG) -> None:
    held = _held_out()
    fmap = FeatureMap.of(plant_model)
    still = ~fmap.matrix([(a, v) for a, _, v in held])[1]
    probes = _holdout(TrainingData([], [], [], [], reference_holdout=held), fmap)["probes"]
    sensors = fmap.inputs
    values = np.array([[v[s] for s in sensors] for _, _, v in held])
    spread = values[~still].std(axis=0)
    assert len(probes) == min(1000, int((~still).sum()))
    for asset, probe in probes:
        pushed = np.array([probe[s] for s in sensors])
        base = np.flatnonzero(
            ((values == pushed).sum(axis=1) == len(sensors) - 1) & [a == asset for a, _, _ in held]
        )
        assert base.size == 1 and not still[base[0]]  # a running reading, one sensor pushed
        push = np.abs(pushed - values[base[0]]).max() / spread[np.argmax(pushed != values[base[0]])]
        assert 6.0 <= push <= 9.0 + 1e-9  # by 6 to 9 of its spread over the running readings
