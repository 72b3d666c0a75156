"""``bench feedback``'s building blocks: alert episodes from flags, ground-truth labels, the normal sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import AlertSettings, Settings
from pipeline.features import INPUT_SENSORS
from pipeline.feedbackbench import episodes, feedback_data
from pipeline.simulator.faults import Fault

ALERTS = AlertSettings(open_after=2, window=3, resolve_after=2, resolve_hold_s=0, quiet_s=1e9)


def _stream(n: int, assets: tuple[str, ...] = ("p1",)) -> pd.DataFrame:
    rows = [
        {"t": float(10 * k), "asset_id": asset} | {s: 1.0 + k for s in INPUT_SENSORS}
        for k in range(n)
        for asset in assets
    ]
    return pd.DataFrame(rows)


def test_episodes_follow_the_daemons_hysteresis() -> None:
    stream = _stream(12)
    flags = np.array([0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
    found = episodes(stream, flags, ALERTS)
    assert [(e.row, e.opened_at, e.resolved_at) for e in found] == [(2, 20.0, 50.0), (9, 90.0, float("inf"))]


class _FlagsFromSpeed:
    """A stand-in model: flags readings whose first sensor is above a limit (reads raw sensors)."""

    feature_names_in_ = list(INPUT_SENSORS)
    metadata_: dict = {}
    threshold_ = 0.5

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return (X[:, 0] > 30).astype(float)


def test_feedback_labels_come_from_the_ground_truth_and_episodes_leave_the_normal_sample() -> None:
    stream = _stream(60, assets=("p1", "p2"))
    fault = Fault(0, "p1", "seal_leak", onset=280.0, duration=100.0, severity=1.0)
    settings = Settings.model_validate(
        {"alerts": ALERTS.model_dump(), "retrain": {"normal_sample_every": 1, "episode_margin_s": 0.0}}
    )
    labelled, normal, n_alerts = feedback_data(
        _FlagsFromSpeed(),  # type: ignore[arg-type]
        stream,
        [fault],
        settings,
        rng=np.random.default_rng(0),
        label_fraction=1.0,
        max_labels=50,
    )
    # Both assets alert at t = 310 (the second reading over the limit); only p1 had a fault then.
    assert n_alerts == 2
    assert sorted((r.asset_id, r.ts, r.y) for r in labelled) == [("p1", 310.0, 1), ("p2", 310.0, 0)]
    assert labelled[0].values["speed_rpm"] == 32.0
    # The episodes never resolve: everything from p1's opening on is left out of the normal sample; p2's
    # alert was rejected, so its readings stay in.
    assert {t for a, t, _ in normal if a == "p1"} == {10.0 * k for k in range(31)}
    assert {t for a, t, _ in normal if a == "p2"} == {10.0 * k for k in range(60)}
    assert len(normal) == 91
    # With every label wrong, p1's episode is taken for normal operation and p2's is left out instead.
    _, wrong, _ = feedback_data(
        _FlagsFromSpeed(),  # type: ignore[arg-type]
        stream,
        [fault],
        settings,
        rng=np.random.default_rng(0),
        label_fraction=1.0,
        max_labels=50,
        wrong=1.0,
    )
    assert {a for a, t, _ in wrong if t > 300} == {"p1"}


@pytest.mark.integration
def test_the_quiet_plant_feedback_run_measures_both_models_on_unseen_days(tmp_path: Path) -> None:
    from pipeline.feedbackbench import run_quiet_feedback_bench

    out = tmp_path / "quiet.json"
    settings = Settings.model_validate({"retrain": {"max_epochs": 3, "min_normal_rows": 50}})
    assert run_quiet_feedback_bench(settings, seed=2, assets=3, quiet_hours=3, minutes=60, out=out) == 0
    result = json.loads(out.read_text())
    # Every alert of a fault-free period is a false one: whatever the operator answered is "normal".
    assert result["labels"]["anomaly"] == 0
    assert result["labels_used"] == min(50, round(0.5 * result["feedback_alerts"]))
    for model in ("before", "after"):
        day = result[model]["fault_free_day"]
        assert day["normal_asset_days"] == pytest.approx(3.0, abs=1e-3)  # three assets for a day
        assert day["false_alerts_per_asset_day"] == pytest.approx(day["false_alerts"] / 3.0, abs=0.01)
        assert sum(result[model]["fault_stream"]["detection_rate"].values()) > 0
    assert result["after"]["gate"] in ("promoted", "rejected")
