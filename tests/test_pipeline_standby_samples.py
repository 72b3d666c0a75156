"""A standby machine (stopped most of the time) in the retrainer's samples: the reference sample
published with a model picks among readings taken running, so its share of the bounded sample is not
spent on readings at standstill that the retrainer then drops."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from test_pipeline_standby_gate import readings_of, standby_fleet

from dhag import DHAG
from pipeline.config import RetrainSettings
from pipeline.features import INPUT_SENSORS
from pipeline.plantmodel import _at_standstill, history_reference
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.judgement import judge
from pipeline.retrain.samples import reference_picks


@pytest.fixture(scope="module")
def standby_history() -> pd.DataFrame:
    return standby_fleet(0).run(2 * 3600, 10.0)


def test_a_first_models_reference_sample_picks_a_standby_machines_runningreadings_of(standby_history) -> None:
    standby = standby_history["asset_id"].iloc[0]
    assert standby_history.loc[standby_history["asset_id"] == standby, "standstill"].mean() > 0.6
    keys = zip(standby_history["asset_id"], standby_history["t"], strict=True)
    still = dict(zip(keys, standby_history["standstill"], strict=True))
    picked = history_reference(standby_history, 150)
    assert not [t for a, t, _ in picked if still[(a, t)]]
    # Its full share, spread over the hours it ran.
    assert Counter(a for a, _, _ in picked)[standby] == 50
    times = [t for a, t, _ in picked if a == standby]
    assert min(times) < 900 and max(times) > 6000
    # A history of millions of rows is judged a chunk at a time, alike.
    assert np.array_equal(_at_standstill(standby_history, chunk=7), _at_standstill(standby_history))


def test_a_history_without_a_stop_gives_the_same_reference_picks_as_ever(history) -> None:
    # The feedback and plant benches publish this sample: without a stop, exactly the rows picked before.
    rows = history[history["fault"].fillna("") == ""].dropna(subset=list(INPUT_SENSORS))
    picks = reference_picks(rows["asset_id"].astype(str).tolist(), rows["t"].to_numpy(float), 200)
    before = [(str(rows["asset_id"].iloc[i]), float(rows["t"].iloc[i])) for i in picks]
    assert [(a, t) for a, t, _ in history_reference(history, 200)] == before
    assert [v for _, _, v in history_reference(history, 200)] == [
        dict(zip(INPUT_SENSORS, rows[list(INPUT_SENSORS)].iloc[i].tolist(), strict=True)) for i in picks
    ]


def test_a_candidates_reference_sample_picks_runningreadings_of(plant_model: DHAG, history) -> None:
    # The parent's reference and the recent normal sample both hold the standby machine's stops.
    stopped = standby_fleet(1).run(2 * 3600, 10.0)
    normal = readings_of(stopped, 10_000.0)
    reference = readings_of(standby_fleet(2).run(2 * 3600, 10.0))
    settings = RetrainSettings(device="cpu", min_normal_rows=100, reference_sample_size=300, seed=0)
    verdict = judge(plant_model, [], normal, settings, reference=reference, train=lambda c, d, s: c)
    _, kept = FeatureMap.of(plant_model).matrix([(a, v) for a, _, v in verdict.reference])
    assert len(verdict.reference) == 300 and kept.all()
    standby = str(stopped["asset_id"].iloc[0])
    assert Counter(a for a, _, _ in verdict.reference)[standby] == 100
    assert np.isin([t for a, t, _ in verdict.reference if a == standby], [t for a, t, _ in normal]).any()


def test_the_reference_sample_leaves_out_what_training_judges_standstill(history) -> None:
    # A power meter reading 0 on a running motor is judged (its current reads on), a motor switched off
    # and running down is not: the sample's rule is the model's, current included. Before, the sample
    # read speed and power alone and took every row with its power under a tenth for a standstill.
    frame = history.copy()
    rows = frame.index[frame["asset_id"] == frame["asset_id"].iloc[0]]
    frame.loc[rows[:20], "motor_power_kw"] = 0.0  # the meter failed
    frame.loc[rows[20:40], ["motor_power_kw", "motor_current_a"]] = 0.0  # switched off, running down
    still = _at_standstill(frame)
    assert not still[frame.index.get_indexer(rows[:20])].any()
    assert still[frame.index.get_indexer(rows[20:40])].all()
    assert still.sum() == 20
