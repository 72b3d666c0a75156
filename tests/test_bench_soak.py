"""``bench soak`` in miniature: the same code path as the 30-minute run, for 15 seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.soak import SoakOptions, run_soak

pytestmark = pytest.mark.integration


def test_a_short_soak_accounts_for_every_record_and_samples_the_processes(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    code = run_soak(Settings(), SoakOptions(minutes=0.25, rate=1000, interval_s=5.0, out=out))
    result = json.loads(out.read_text())
    assert code == 0, result
    assert result["accounted"] and result["lost"] == 0
    assert result["produced"] == result["scored"] + result["dead_lettered"] > 10_000
    assert result["poison_sent"] > 0 and result["dead_lettered"] >= result["poison_sent"]
    assert result["daemon_exit_code"] == 0 and result["failed_sends"] == 0
    samples = result["samples"]
    assert len(samples) >= 3
    for sample in samples:
        assert sample["fds"] > 0 and sample["threads"] > 0 and sample["rss_mb"] > 0
        assert sample["broker_rss_mb"] > 0 and sample["broker_cpu_s"] >= 0
    assert samples[-1]["broker_cpu_s"] >= samples[0]["broker_cpu_s"]
