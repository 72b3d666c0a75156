"""``dhag-pipeline bench starts``: a plant whose standby machines stand still most of the day and whose
other machines stop and start cold, read through the daemon's real path with and without the warm-up."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Settings
from pipeline.simulator.faults import Fault
from pipeline.startsbench import EARLY_S, STANDBY_SHARE, run_starts_bench, starts_scenario, tally


def test_the_scenario_stops_standby_machines_most_of_the_time_and_faults_run_in_running_spans() -> None:
    history, stream, faults, plan = starts_scenario(seed=2, assets=4, history_hours=8, hours=8)
    assert plan["standby"] == ["pump-02"]
    share = 1 - history.groupby("asset_id")["standstill"].mean()
    assert abs(share["pump-02"] - STANDBY_SHARE) < 0.02
    assert (share.drop("pump-02") > 0.5).all() and len(share) == 4
    for frame, stops in ((history, plan["history"]), (stream, plan["stream"])):
        assert all(len(s) >= 1 for s in stops.values())
        assert not (frame["standstill"] & (frame["fault"] != "")).any()  # no fault while stopped
    # Each asset's first fault begins within EARLY_S of a start of it.
    starts = {a: [end for _, end in s] for a, s in plan["stream"].items()}
    first = {}
    for f in faults:
        first.setdefault(f.asset_id, f)
    assert first and all(any(0 < f.onset - s <= EARLY_S for s in starts[a]) for a, f in first.items())


def test_tally_tells_detections_from_false_alerts_at_starts_and_elsewhere() -> None:
    t = np.arange(0.0, 7200.0, 100.0)
    stream = pd.DataFrame(
        {
            "t": t,
            "asset_id": "p1",
            "fault": "",
            "recovering": False,
            "standstill": t >= 6000,
            "warming": t < 800,
        }
    )
    stream.loc[(t >= 1000) & (t < 1300), "fault"] = "cavitation"
    fault = Fault(0, "p1", "cavitation", 1000.0, 300.0, 1.0)
    spans = [
        ("p1", 600.0, 700.0),  # after the start at 500, no fault, still cold: false, at a start
        ("p1", 1100.0, 1500.0),  # the fault's: detected
        ("p1", 4500.0, 4800.0),  # over an hour after the start: false, elsewhere
        ("p1", 6500.0, math.inf),  # at standstill: false, elsewhere
    ]
    counts = tally(spans, stream, [fault], {"p1": [500.0]})
    assert counts == {
        "alerts_opened": 4,
        "alerts_in_fault_windows": 1,
        "false_alerts_at_starts": 1,
        "false_alerts_elsewhere": 2,
        "false_alerts_at_standstill": 1,
        "false_alerts_while_warming": 1,
        "faults": 1,
        "faults_detected": 1,
        "early_faults": 1,
        "early_faults_detected": 1,
        "early_faults_begun_under_open_alert": 0,
        "faults_missed": [],
    }
    # The same fault begun under the alert of the start, and no alert of its own: not detected.
    counts = tally([("p1", 600.0, 2000.0)], stream, [fault], {"p1": [500.0]})
    assert (counts["faults_detected"], counts["early_faults_begun_under_open_alert"]) == (0, 1)
    assert counts["faults_missed"] == ["p1 cavitation at 0.28 h"]


def test_the_bench_trains_on_standby_machines_and_reads_both_runs(tmp_path: Path) -> None:
    out = tmp_path / "starts.json"
    code = run_starts_bench(Settings(), seed=0, assets=4, history_hours=3, minutes=180, out=out, max_epochs=2)
    summary = json.loads(out.read_text())
    assert code == 0
    assert set(summary) == {"meta", "settings", "alerts", "plant", "training", "runs", "seconds"}
    assert summary["training"]["trained"] is True
    assert summary["training"]["standby_assets_referenced"] == len(summary["plant"]["standby_assets"]) == 1
    assert summary["plant"]["starts_stream"] >= 4
    runs = summary["runs"]
    assert set(runs) == {
        "warmup",
        "no_warmup",
        "silent_warmup",
        "silent_no_silence_rule",
        "restarts_read_back",
        "restarts_no_read_back",
    }
    assert (runs["warmup"]["warmup_s"], runs["no_warmup"]["warmup_s"]) == (3600.0, 0.0)
    assert runs["silent_warmup"]["warmup_after_silence_s"] == 600.0
    assert runs["silent_no_silence_rule"]["warmup_after_silence_s"] == 0.0
    for run in runs.values():
        false = run["false_alerts_at_starts"] + run["false_alerts_elsewhere"]
        assert run["alerts_opened"] == run["alerts_in_fault_windows"] + false
        assert run["false_alerts_at_standstill"] + run["false_alerts_while_warming"] <= false
        assert run["early_faults_detected"] <= run["early_faults"] <= run["faults"]
        assert run["faults_detected"] <= run["faults"] and run["faults"] >= 4
        assert len(run["faults_missed"]) == run["faults"] - run["faults_detected"]
    for name, run in runs.items():  # the silent gateway sends no reading at standstill
        assert (run["readings_standstill"] > 0) is (not name.startswith("silent_"))
    assert runs["no_warmup"]["readings_warming_up"] == 0
    # A restart 5 minutes after every start: with the read-back, the warm-ups go on as without restarts.
    read, lost = runs["restarts_read_back"], runs["restarts_no_read_back"]
    assert read["restarts"] == lost["restarts"] == summary["plant"]["starts_stream"]
    assert {k: v for k, v in read.items() if k not in ("restarts", "read_back")} == runs["warmup"]
    assert lost["readings_warming_up"] <= read["readings_warming_up"]
    silent, without = runs["silent_warmup"], runs["silent_no_silence_rule"]
    assert without["readings_warming_up"] == 0  # no standstill reading, no silence rule: no start known
    assert silent["false_alerts_at_starts"] <= without["false_alerts_at_starts"]
    assert runs["warmup"]["readings_standstill"] == runs["no_warmup"]["readings_standstill"]
