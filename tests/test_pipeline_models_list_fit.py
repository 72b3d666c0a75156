"""``models list`` in a terminal fits its table to the terminal's columns, as ``alerts`` does: its
VALIDATION column (some twenty metrics of each retrained version) cut short with an ellipsis, the other
columns whole, and an unreadable version's error, cut short there, in full under the table; to a pipe
or a file the table is as wide as its cells, as before."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from pipeline import registry as reg
from pipeline.config import Settings
from pipeline.modelcmd import run_models
from pipeline.textwidth import display_width

# As a retraining run records a candidate's metrics and the current model's beside them.
METRICS = {
    f"{who}{name}": 0.123456 for who in ("", "current_") for name in ("recall", "normal_far", "probes")
}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _listed(root: Path, out: io.StringIO) -> str:
    args = argparse.Namespace(action="list", registry=str(root))
    assert run_models(Settings(), args, out=out, err=io.StringIO()) == 0
    return out.getvalue()


@pytest.fixture
def root(fitted, tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    reg.publish(root, fitted, "v1")
    reg.publish(root, fitted, "v2", validation=METRICS, make_current=False)
    (root / "v3.dhag").write_bytes(b"truncated")
    return root


@pytest.mark.parametrize("columns", [100, 140])
def test_a_terminal_gets_a_list_that_fits_it(
    monkeypatch: pytest.MonkeyPatch, root: Path, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    text = _listed(root, Terminal())
    lines = text.splitlines()
    (error,) = [line for line in lines if line.startswith("v3: UNREADABLE: ")]
    # Before: each row as wide as its metrics (about 230 columns here), wrapped over two or three lines
    # by the terminal, whatever its width.
    assert max(display_width(line) for line in lines if line != error) <= columns, text
    assert "..." in text and "v1" in text and "v2" in text and "REFUSED" not in text
    assert "is not a readable DHAG model" in error  # the error the table cut short, in full


def test_a_pipe_gets_the_whole_list_as_before(root: Path) -> None:
    text = _listed(root, io.StringIO())
    assert "..." not in text and "current_probes=0.1235" in text
    assert not [line for line in text.splitlines() if line.startswith("v3:")]
    (row,) = [line for line in text.splitlines() if " v3 " in line]
    assert "UNREADABLE: " in row and "is not a readable DHAG model" in row
