"""Where ``dhag score`` writes its scores and the system refuses them: a folder of the system's own that
takes no new file (``/proc``) is refused before scoring, saying so, not as a missing file; a full
volume or device, standard output redirected to one among them, is named with what was being written."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

import dhag
from dhag.cli import main


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return numbers_csv(tmp_path)


@pytest.fixture
def model(rows: Path, tmp_path: Path) -> Path:
    return one_epoch_model(rows, tmp_path)


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _like_proc(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating a file in ``folder`` fails as it does in /proc and /sys: ENOENT, though the folder exists."""
    real_open = os.open

    def refusing(path, flags, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if flags & os.O_CREAT and Path(path).parent == folder:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)


def test_score_out_in_a_folder_that_takes_no_file_is_refused_before_scoring(
    model: Path, rows: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    system = tmp_path / "proc"
    system.mkdir()
    _like_proc(system, monkeypatch)

    def read(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("read the rows before refusing --out")

    monkeypatch.setattr("dhag.scorecmd.read_table", read)
    out = system / "x.csv"
    assert main(["score", "--model", str(model), "--data", str(rows), "--out", str(out)]) == 2
    err = _one_line(capsys.readouterr().err)
    # Before: "[Errno 2] No such file or directory: '.../proc/x.csv'", once the whole file was scored.
    assert f"no file can be made in {str(system)!r}" in err and "nothing was scored" in err
    assert "No such file or directory" not in err and not any(system.iterdir())


def test_train_out_in_a_folder_that_takes_no_file_is_refused_before_training(
    rows: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    system = tmp_path / "sys"
    system.mkdir()
    _like_proc(system, monkeypatch)
    monkeypatch.setattr("dhag.scorecmd.read_table", lambda *a, **k: pytest.fail("read the rows first"))
    assert main(["train", "--data", str(rows), "--out", str(system / "m.dhag"), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"no file can be made in {str(system)!r}" in err and "nothing was trained" in err


@pytest.mark.skipif(
    not (os.path.isdir("/proc/self") and os.geteuid() == 0), reason="needs /proc and root (else no access)"
)
def test_score_out_in_proc_says_so(model: Path, rows: Path, capsys) -> None:
    assert main(["score", "--model", str(model), "--data", str(rows), "--out", "/proc/x.csv"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "no file can be made in '/proc'" in err and "No such file or directory" not in err


class _Full(io.RawIOBase):
    """A device with no room: every write fails as /dev/full's does."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # noqa: ANN001
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_score_to_a_full_standard_output_says_it_was_writing_there(
    model: Path, rows: Path, monkeypatch, capsys
) -> None:
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(_Full(), buffer_size=64)))
    assert main(["score", "--model", str(model), "--data", str(rows)]) == 2
    err = _one_line(capsys.readouterr().err)
    # Before: "dhag score: error: [Errno 28] No space left on device", not what was written where.
    assert "cannot write the scores of 200 rows to standard output: No space left on device" in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_score_with_stdout_on_dev_full_exits_2_with_one_line(model: Path, rows: Path) -> None:
    run = "import sys; from dhag.cli import main; sys.exit(main(sys.argv[1:]))"
    here = {"PYTHONPATH": str(Path(dhag.__file__).parents[1])}  # this checkout's dhag
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-c", run, "score", "--model", str(model), "--data", str(rows)],
            env={**os.environ, **here},
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    err = _one_line(done.stderr)
    assert "to standard output: No space left on device" in err and "Exception ignored" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_score_out_dev_full_names_it(model: Path, rows: Path, capsys) -> None:
    assert main(["score", "--model", str(model), "--data", str(rows), "--out", "/dev/full"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "cannot write the scores of 200 rows to '/dev/full': No space left on device" in err


def test_score_with_standard_output_closed_is_refused_before_scoring(
    model: Path, rows: Path, monkeypatch, capsys
) -> None:
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", None)  # what Python makes of a closed standard output: `>&-`
    monkeypatch.setattr("dhag.scorecmd.read_table", lambda *a, **k: pytest.fail("read the rows first"))
    # Before: the whole file read and scored, then a traceback, AttributeError: 'NoneType' object has
    # no attribute 'flush', exit 1.
    assert main(["score", "--model", str(model), "--data", str(rows)]) == 2
    assert _one_line(capsys.readouterr().err) == (
        "dhag score: error: standard output is closed (>&-), so the scores have nowhere to go: name a "
        "file with --out; nothing was scored.\n"
    )
