"""The demo's summary gives an exit code only for a child it started: one stopped while its first model
trains started neither daemon nor retrainer, and ``--no-retrain`` starts no retrainer, so theirs are
``null``, not a 0 that reads as a clean stop."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pipeline import demo
from pipeline.config import Settings
from pipeline.demostop import DemoParts


def test_a_demo_stopped_while_its_model_trains_gives_no_child_an_exit_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def training(*args: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "ensure_model", training)
    monkeypatch.setattr(demo.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "labels"))
    out = io.StringIO()
    code = demo.run_demo(Settings(), demo.DemoOptions(registry=str(tmp_path / "registry")), out)
    summary = json.loads(out.getvalue().split("summary: ", 1)[1])
    assert code == 0
    assert summary["daemon_exit_code"] is None and summary["retrainer_exit_code"] is None
    assert summary["child_pids"] == [] and summary["model_at_start"] is None


def test_parts_never_started_have_no_exit_code(tmp_path: Path) -> None:
    parts = DemoParts(tmp_path / "labels")
    parts.stop_in_order(1.0)
    assert parts.daemon_code is None and parts.retrainer_code is None
