"""``dhag-pipeline bench readback``: a daemon resuming at the end of the starts bench's plant reads its
last ``alerts.warmup_s`` back from the embedded broker and finds the machines that stood still in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.readbackbench import run_readback_bench

pytestmark = pytest.mark.integration


def test_the_read_back_finds_the_machines_that_stood_still_and_reads_each_record_once(tmp_path: Path) -> None:
    out = tmp_path / "readback.json"
    settings = Settings.model_validate({"alerts": {"warmup_s": 1800.0}})
    assert run_readback_bench(settings, assets=8, minutes=180, history_hours=2, max_epochs=1, out=out) == 0
    summary = json.loads(out.read_text())
    window, whole = summary["window"], summary["whole_topic"]
    assert summary["records_produced"] == 8 * 180 * 6
    # The last 1800 s: 180 readings of each asset, and the one dated exactly 1800 s before the newest.
    assert window["records"] == 8 * 181 and window["partitions_read_whole"] == [0, 1, 2]
    assert window["stood_still_truth"] and window["stood_still_found"] == window["stood_still_truth"]
    for run in whole["read_only"], whole["read_and_noted"]:
        assert run["records"] == summary["records_produced"] and run["records_per_second"] > 0
    assert whole["records_in_budget"] == int(whole["read_and_noted"]["records_per_second"] * 15.0)
