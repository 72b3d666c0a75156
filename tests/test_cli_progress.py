"""``dhag train``'s progress bar: drawn on a terminal, where each redraw replaces the last; none where
standard error is a log file, a pipe or a CI job's log, which keep every redraw."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from cli_files import numbers_csv

from dhag.cli import main


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _train(tmp_path: Path) -> None:
    data = numbers_csv(tmp_path)
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--device", "cpu"]
    assert main([*argv, "--max-epochs", "3"]) == 0


def test_train_draws_no_progress_bar_into_a_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()  # `dhag train ... 2>train.log`, a CI job: not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    _train(tmp_path)
    # Before: every epoch's redraws ('\rDHAG:  33%|###  | 1/3 [00:08<00:16, ..., val_loss=1.5568]', some
    # 200 characters each, twice an epoch), then a line of spaces that the next warning was written onto.
    assert "\r" not in log.getvalue() and "epoch/s" not in log.getvalue()


def test_train_draws_its_progress_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _train(tmp_path)
    assert "epoch/s" in terminal.getvalue()


def test_train_help_says_when_there_is_a_progress_bar(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "not a terminal" in " ".join(capsys.readouterr().out.split())
