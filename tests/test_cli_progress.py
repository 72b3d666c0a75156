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
    # It read "no progress bar (where stderr is not a terminal, a log file or a pipe, there is none: ...)",
    # as if a terminal, a log file and a pipe alike had no bar.
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert (
        "--quiet no progress: no bar on a terminal, and none of the plain lines written instead into a log "
        "file or a pipe (one when training begins, then one a minute)"
    ) in " ".join(capsys.readouterr().out.split())


def test_train_into_a_log_says_a_plain_line_when_training_begins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the bar, a long training said nothing until it ended: a job runner that stops a job
    # silent for some minutes stopped it. A line says the training began, then one a minute.
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    _train(tmp_path)
    lines = [line for line in log.getvalue().splitlines() if line.startswith("dhag train: epoch")]
    assert lines and lines[0].startswith("dhag train: epoch 1 of at most 3, 0 s: loss ")
    assert "\r" not in log.getvalue()


def test_train_quiet_says_no_progress_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    data = numbers_csv(tmp_path)
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--device", "cpu", "--quiet"]
    assert main([*argv, "--max-epochs", "3"]) == 0
    assert "dhag train: epoch" not in log.getvalue()


def test_progress_lines_name_the_member_and_the_retry() -> None:
    from dhag.progresslines import ProgressLines

    out, now = io.StringIO(), iter([0.0, 1.0, 2.0])
    lines = ProgressLines(50, stream=out, clock=lambda: next(now))
    lines({"epoch": 1.0, "loss": 0.25, "member": 1.0, "attempt": 1.0}, None)
    lines({"epoch": 1.0, "loss": 0.5, "member": 1.0, "attempt": 2.0}, None)
    lines({"epoch": 2.0, "loss": 0.5, "member": 1.0, "attempt": 2.0}, None)  # within the minute: nothing
    assert out.getvalue().splitlines() == [
        "dhag train: epoch 1 of at most 50 (member 2), 0 s: loss 0.2500",
        "dhag train: epoch 1 of at most 50 (member 2, attempt 2), 1 s: loss 0.5000",
    ]
