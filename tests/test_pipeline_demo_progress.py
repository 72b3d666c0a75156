"""The demo's first training draws its progress bar only where standard error is a terminal; into a
log file or a pipe (``make run > log 2>&1``) it writes plain lines, as ``dhag train`` does."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from pipeline import demo
from pipeline.config import load_settings


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stderr: io.StringIO) -> str:
    monkeypatch.setattr(sys, "stderr", stderr)
    settings = load_settings(None, {"DHAG_PIPELINE_MODEL__REGISTRY": str(tmp_path / "registry")})
    opts = demo.DemoOptions(assets=2, history_hours=1, max_epochs=2, time_budget=5)
    demo.ensure_model(settings, opts, io.StringIO())
    return stderr.getvalue()


def test_the_first_training_draws_no_bar_into_a_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _train(tmp_path, monkeypatch, io.StringIO())
    # Before: each epoch's redraws ('\rDHAG:  50%|#####  | 1/2 [00:01<00:01, ..., val_loss=1.14]'), one
    # line of thousands of characters in the file, then a line of spaces the next log line followed.
    assert "\r" not in log and "epoch/s" not in log
    assert "demo: training: epoch 1 of at most 2, 0 s: loss " in log


def test_the_first_training_draws_its_bar_on_a_terminal(tmp_path: Path, monkeypatch) -> None:
    terminal = _train(tmp_path, monkeypatch, _Terminal())
    assert "epoch/s" in terminal and "demo: training: epoch" not in terminal
