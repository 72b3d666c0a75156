"""``dhag train``, ``info`` and ``sign`` with standard output on a full device (``> /dev/full``, a file on
a full volume): one line naming standard output, and for ``train`` and ``sign`` that the model was
written whole; before, a bare "error: [Errno 28] No space left on device" after a training that had
written its model read as the model's write failing."""

from __future__ import annotations

import errno
import io
import os
import sys
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

from dhag.artifact import load_model
from dhag.cli import main


class _FullDevice(io.StringIO):
    """Standard output redirected to a full device: what is written to it is refused at the flush."""

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_train_says_the_model_was_written_when_its_summary_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    rows, out = numbers_csv(tmp_path), tmp_path / "m.dhag"
    monkeypatch.setattr(sys, "stdout", _FullDevice())
    argv = ["train", "--data", str(rows), "--out", str(out), "--device", "cpu", "--max-epochs", "1"]
    assert main([*argv, "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "dhag train: error: cannot write how training went to standard output: No space left on device; "
        f"the model was trained and written whole to {str(out)!r}."
    )
    assert load_model(out).n_features_in_ == 2


@pytest.mark.parametrize("argv", [[], ["--json"]])
def test_info_names_standard_output_when_it_is_refused(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    model = one_epoch_model(numbers_csv(tmp_path), tmp_path)
    monkeypatch.setattr(sys, "stdout", _FullDevice())
    assert main(["info", str(model), *argv]) == 2
    assert capsys.readouterr().err == (
        "dhag info: error: cannot write what dhag info says of the model to standard output: No space "
        "left on device.\n"
    )


def test_info_prints_the_whole_description(tmp_path: Path, capsys) -> None:
    model = one_epoch_model(numbers_csv(tmp_path), tmp_path)
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    # Every line, the last (the metadata) ending in one line break, as print wrote them before.
    assert out.startswith("DHAG model, format ") and out.endswith('rows.csv"}\n')
    assert "\nthreshold: " in out and "\n\n" not in out


def test_sign_says_the_model_was_signed_when_its_line_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    model = one_epoch_model(numbers_csv(tmp_path), tmp_path)
    signed = tmp_path / "signed.dhag"
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    monkeypatch.setattr(sys, "stdout", _FullDevice())
    assert main(["sign", str(model), "--out", str(signed)]) == 2
    assert capsys.readouterr().err == (
        f"dhag sign: error: cannot write that {str(model)!r} was signed to standard output: No space left "
        f"on device; it was signed and written whole to {str(signed)!r}.\n"
    )
    assert load_model(signed).n_features_in_ == 2
