"""``dhag info`` (and every load) given a file that is no model, or a model cut short: refused from its
first bytes and its size, without reading the file; a large CSV given by mistake was read whole first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import pytest
from cli_files import numbers_csv, one_epoch_model

import dhag.artifact
from dhag.cli import main


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return one_epoch_model(numbers_csv(tmp_path), tmp_path)


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of what each read of a model file returns."""
    read: list[int] = []
    opened = os.fdopen

    def counted(fd: int, *args: Any, **kwargs: Any) -> IO[bytes]:
        fh = opened(fd, *args, **kwargs)
        reading = fh.read

        def read_counted(n: int = -1) -> bytes:
            got = reading(n)
            read.append(len(got))
            return got

        fh.read = read_counted
        return fh

    monkeypatch.setattr(dhag.artifact.os, "fdopen", counted)
    return read


def _info(path: Path, capsys) -> str:
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_a_large_csv_given_as_the_model_is_refused_from_its_first_bytes(
    tmp_path: Path, bytes_read: list[int], capsys
) -> None:
    # Its first 8 bytes, read as a header's length, announced exabytes: the whole file was read (16 MiB
    # here, into memory), then refused as text.
    data = tmp_path / "readings.csv"
    line = b"".join(b"%d,%d,%d\n" % (i, i % 7, i % 3) for i in range(100_000))
    with data.open("wb") as fh:
        fh.write(b"flow,temp,zone\n")
        while fh.tell() < 16 << 20:
            fh.write(line)
    err = _info(data, capsys)
    assert "it starts with 'flow,temp,zone\\n0,0,0\\n1,1,1\\n2,2,2': text, not a DHAG model" in err
    assert sum(bytes_read) <= 40


def test_a_binary_file_whose_first_bytes_fit_a_header_is_refused_without_reading_it(
    tmp_path: Path, bytes_read: list[int], capsys
) -> None:
    data = tmp_path / "weights.bin"
    data.write_bytes((1 << 20).to_bytes(8, "little") + os.urandom(2 << 20))
    err = _info(data, capsys)
    assert "its header of 1048576 bytes does not begin with '{', as a safetensors header does" in err
    assert sum(bytes_read) <= 9


@pytest.mark.parametrize(("change", "said"), [(-100, "cut short"), (+2, "past")])
def test_a_model_whose_weights_are_cut_short_or_followed_is_refused_from_its_header(
    model: Path, tmp_path: Path, bytes_read: list[int], capsys, change: int, said: str
) -> None:
    whole = model.read_bytes()
    header = 8 + int.from_bytes(whole[:8], "little")
    changed = tmp_path / "changed.dhag"
    changed.write_bytes(whole[:change] if change < 0 else whole + b"\0" * change)
    err = _info(changed, capsys)
    expected = {
        "cut short": f"its weights are cut short: its header describes {len(whole)} bytes, and the file "
        f"holds {len(whole) + change}\n",
        "past": f"it holds 2 bytes past the {len(whole)} its header describes\n",
    }[said]
    assert err.endswith(f"(truncated or not a safetensors file): {expected}")
    assert sum(bytes_read) == header  # the header, not the weights
