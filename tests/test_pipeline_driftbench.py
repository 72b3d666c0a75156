"""``dhag-pipeline bench drift``: its scenarios, its summary, and its command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Settings
from pipeline.driftbench import CHANGE_AFTER_S, DAY_S, drift_scenario, run_drift_bench, watch


def test_watch_tells_false_detections_from_the_delay_after_the_change() -> None:
    rng = np.random.default_rng(3)
    times = np.arange(0.0, 4 * DAY_S, 30.0)
    scores = 0.3 + rng.normal(0, 0.02, times.size)
    scores[times >= 2 * DAY_S] += 0.2
    summary = watch(scores, times, delta=0.002, bucket_s=300.0, change_at=2 * DAY_S)
    assert summary["false_detections_per_day"] == 0.0
    assert 0 < summary["hours_to_first_detection"] < 6
    assert summary["detections"] == len(summary["detection_hours"]) >= 1
    # Without a change, every detection is a false one.
    quiet = watch(
        scores[times < 2 * DAY_S], times[times < 2 * DAY_S], delta=0.002, bucket_s=0.0, change_at=None
    )
    assert quiet["hours_to_first_detection"] is None
    assert quiet["false_detections_per_day"] == pytest.approx(
        quiet["detections"] / (2 - 30 / DAY_S), abs=1e-3
    )


@pytest.mark.parametrize("bucket_s", [300.0, 0.0])
def test_watch_counts_the_returns_it_did_not_report(bucket_s: float) -> None:
    # An afternoon hotter than the days around it: the rise is reported, the fall back to the morning's
    # level is found by ADWIN too and passed over; the JSON said nothing of it.
    rng = np.random.default_rng(3)
    times = np.arange(0.0, 4 * DAY_S, 30.0)
    scores = 0.3 + rng.normal(0, 0.02, times.size)
    scores[(times >= 2 * DAY_S) & (times < 2 * DAY_S + 8 * 3600)] += 0.2
    summary = watch(scores, times, delta=0.002, bucket_s=bucket_s, change_at=2 * DAY_S)
    assert (summary["detections"], summary["returns_not_reported"]) == (1, 1)
    assert 2 * 24 <= summary["detection_hours"][0] < 2 * 24 + 8
    steady = watch(scores[times < 2 * DAY_S], times[times < 2 * DAY_S], delta=0.002, bucket_s=bucket_s,
                   change_at=None)  # fmt: skip
    assert (steady["detections"], steady["returns_not_reported"]) == (0, 0)


def test_the_shift_scenarios_change_the_plant_from_day_two_and_only_then() -> None:
    steady, none = drift_scenario("steady", seed=0, assets=3, days=2.1)
    shifted, change_at = drift_scenario("flow_meters_high", seed=0, assets=3, days=2.1)
    assert none is None and change_at == steady["t"].iloc[0] - 30.0 + CHANGE_AFTER_S
    after = shifted["t"] > change_at
    ratio = (shifted["flow_m3h"] / steady["flow_m3h"]).to_numpy()
    known = ~np.isnan(ratio)
    assert np.allclose(ratio[known & ~after.to_numpy()], 1.0)
    assert np.allclose(ratio[known & after.to_numpy()], 1.05)
    hotter, _ = drift_scenario("hotter_bearings", seed=0, assets=3, days=2.1)
    rise = (hotter["bearing_temp_c"] - steady["bearing_temp_c"]).to_numpy()
    assert np.allclose(rise[~after.to_numpy()], 0.0) and np.nanmean(rise[after.to_numpy()]) > 0.5
    faults, _ = drift_scenario("faults", seed=0, assets=3, days=2.1)
    assert (faults["fault"] != "").any() and (steady["fault"] == "").all()
    with pytest.raises(ValueError, match="unknown drift scenario"):
        drift_scenario("winter", seed=0, assets=3, days=2.1)


def test_the_bench_reports_every_scenario_both_ways(tmp_path: Path, capsys) -> None:
    out = tmp_path / "drift.json"
    assert run_drift_bench(Settings(), assets=2, days=2.1, history_hours=4.0, out=out) == 0
    summary = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == summary
    assert summary["drift"] == {"delta": 0.002, "bucket_s": 300.0} and "meta" in summary
    assert list(summary["scenarios"]) == ["steady", "faults", "hotter_bearings", "flow_meters_high"]
    for name, result in summary["scenarios"].items():
        assert result["readings"] == 2 * int(2.1 * DAY_S // 30)
        assert result["configured"]["bucket_s"] == 300.0 and result["every_score"]["bucket_s"] == 0.0
        assert all(result[way]["returns_not_reported"] >= 0 for way in ("configured", "every_score"))
        assert (result["change_after_hours"] is None) == (name in ("steady", "faults"))


def test_the_command_line_refuses_too_few_days(capsys) -> None:
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "drift", "--days", "2"])
    assert exc.value.code == 2 and "more than 2" in capsys.readouterr().err
