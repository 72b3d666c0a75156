"""Small files for the tests of the ``dhag`` command line: a CSV of two numeric columns, a model trained
on it in one epoch, on the CPU, and a stand-in of a model for one to be replaced."""

from __future__ import annotations

from pathlib import Path

from dhag.cli import main


def numbers_csv(folder: Path, rows: int = 200) -> Path:
    """``rows.csv`` in ``folder``: columns ``a`` (0, 1, ...) and ``b`` (their remainder by 7)."""
    path = folder / "rows.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(rows)))
    return path


def modes_csv(folder: Path, rows: int = 300) -> Path:
    """``rows.csv`` in ``folder``: as :func:`numbers_csv`, with a categorical ``mode`` (run, idle)."""
    path = folder / "rows.csv"
    path.write_text(
        "a,b,mode\n" + "".join(f"{i},{i % 7},{'run' if i % 2 else 'idle'}\n" for i in range(rows))
    )
    return path


def stand_in_model(path: Path) -> bytes:
    """Write at ``path`` the start of a DHAG model, its header's length and a header naming its format
    (no weights): a file ``dhag train --out`` and ``dhag sign --out`` replace, as they replace a model
    and no data file. Returns the bytes written."""
    header = b'{"__metadata__":{"dhag_format":"1"}}'
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    return path.read_bytes()


def one_epoch_model(data: Path, folder: Path) -> Path:
    """``m.dhag`` in ``folder``, trained on ``data`` by ``dhag train`` for one epoch on the CPU."""
    out = folder / "m.dhag"
    argv = ["train", "--data", str(data), "--out", str(out), "--device", "cpu", "--max-epochs", "1"]
    assert main([*argv, "--quiet"]) == 0
    return out


def refused_once(argv: list[str], capsys) -> str:
    """What ``dhag argv`` says on stderr, asserting it was refused (exit 2) in one line, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err
