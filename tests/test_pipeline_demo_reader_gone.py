"""The demo's screen read through a pipe whose reader goes away (``make run | head``, a pager quit): the
demo stops as Ctrl-C stops it, its children in order, and ends quietly with 141 (128 + SIGPIPE, as the
service's other commands say it), its summary in ``--json`` still; no traceback."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from demo_support import Proc, fake_clients

import pipeline.demo as demo
from pipeline.config import load_settings


class _Pipe(io.StringIO):
    """Standard output into a pipe: refused (EPIPE) from the first periodic summary on, as once ``head``
    has its lines."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def write(self, text: str) -> int:
        if self.refused or text.startswith("["):
            self.refused += 1
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_reader_gone_stops_the_demo_in_order_and_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: BrokenPipeError ended it with a traceback ("uncaught exception: the process ends"), exit
    # 1, and without its summary: --json FILE was not written.
    fake_clients(monkeypatch)
    daemon, retrainer = Proc(), Proc()
    monkeypatch.setattr(demo, "ensure_model", lambda *a, **k: "v1")
    monkeypatch.setattr(demo, "start_daemon", lambda *a, **k: daemon)
    monkeypatch.setattr(demo, "start_retrainer", lambda *a, **k: (retrainer, 1))
    labels = tmp_path / "labels"
    monkeypatch.setattr(demo.tempfile, "mkdtemp", lambda prefix: str(labels.mkdir() or labels))
    summary = tmp_path / "summary.json"
    opts = demo.DemoOptions(
        duration=30.0, assets=2, every=0.2, registry=str(tmp_path / "registry"), json_out=summary
    )
    out = _Pipe()
    assert demo.run_demo(load_settings(None, {}), opts, out) == 141
    assert out.refused == 1  # nothing written after the first refusal
    assert daemon.signals and retrainer.signals and not labels.exists()
    said = json.loads(summary.read_text())
    assert said["model_at_start"] == "v1" and said["daemon_exit_code"] == 0
    assert "plant: 2 assets" in out.getvalue() and "summary" not in out.getvalue()
