"""``dhag train --out`` and ``dhag sign --out`` replace a model, or an empty file, and nothing else: a data
file (a CSV, a Parquet file, another kind of model) named there is refused before anything is trained or
signed, and so is a pipe or a device; before, the model replaced the data file without a word, and a
pipe (or, for root, ``/dev/null``) became a regular file holding the model."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from cli_files import numbers_csv, one_epoch_model

from dhag.artifact import load_model
from dhag.cli import main


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("out_not_a_model")
    return one_epoch_model(numbers_csv(folder), folder)


def _argv(command: str, model: Path, rows: Path) -> list[str]:
    if command == "sign":
        return ["sign", str(model)]
    return ["train", "--data", str(rows), "--device", "cpu", "--max-epochs", "1", "--quiet"]


def _data_file(kind: str, folder: Path) -> Path:
    if kind == "csv":
        path = folder / "readings.csv"
        path.write_text("flow,temp\n1.5,20\n")
    elif kind == "parquet":
        path = folder / "readings.parquet"
        pd.DataFrame({"flow": [1.5], "temp": [20.0]}).to_parquet(path)
    elif kind == "jsonl":  # text that starts as a safetensors header does, with '{"'
        path = folder / "readings.jsonl"
        path.write_text('{"flow": 1.5, "temp": 20}\n')
    else:  # text padded with NUL bytes to a block's size, NUL bytes alone, text a Windows tool wrote
        path = folder / f"readings.{kind}"
        text = "flow,temp\n1.5,20\n"
        held = {"padded": text.encode() + bytes(4000), "zeros": bytes(4096), "utf16": text.encode("utf-16")}
        path.write_bytes(held[kind])
    return path


@pytest.mark.parametrize("command", ["train", "sign"])
@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("csv", "(it starts with 'flow,temp\\n1.5,20\\n': text)"),
        ("parquet", "(it is a Parquet file)"),
        ("jsonl", '(it starts with \'{"flow": 1.5, "temp": 20}\\n\': text)'),
        # Before: each of these three "(it starts with bytes no DHAG model starts with)".
        ("padded", "(it starts with 'flow,temp\\n1.5,20\\n', then NUL bytes: text)"),
        ("zeros", "(its first 40 bytes are NUL bytes (zeros))"),
        ("utf16", "(it starts with 'flow,temp\\n1.5,20\\n': UTF-16 text)"),
    ],
)
def test_an_out_that_holds_data_is_refused_and_kept(
    command: str, kind: str, said: str, model: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    monkeypatch.setattr("dhag.estimator.DHAG.fit", lambda *a, **k: pytest.fail("trained before refusing"))
    rows = numbers_csv(tmp_path)
    data = _data_file(kind, tmp_path)
    before = data.read_bytes()
    capsys.readouterr()
    assert main([*_argv(command, model, rows), "--out", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dhag {command}: error: --out {str(data)!r} is a file that holds no DHAG model ")
    assert said in err and err.endswith(f"remove that one first; nothing was {command}ed.\n")
    assert data.read_bytes() == before


@pytest.mark.parametrize("command", ["train", "sign"])
def test_a_link_to_a_data_file_is_refused(
    command: str, model: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    rows = numbers_csv(tmp_path)
    data = _data_file("csv", tmp_path)
    (tmp_path / "current.dhag").symlink_to(data.name)
    assert main([*_argv(command, model, rows), "--out", str(tmp_path / "current.dhag")]) == 2
    assert "holds no DHAG model" in capsys.readouterr().err
    assert data.read_text() == "flow,temp\n1.5,20\n" and (tmp_path / "current.dhag").is_symlink()


def test_another_kind_of_safetensors_model_is_refused(
    model: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    other = tmp_path / "encoder.safetensors"
    save_file({"weight": torch.zeros(3)}, str(other))
    before = other.read_bytes()
    assert main(["sign", str(model), "--out", str(other)]) == 2
    assert (
        "(it is a safetensors file without the DHAG marker: another kind of model)" in capsys.readouterr().err
    )
    assert other.read_bytes() == before


@pytest.mark.parametrize("command", ["train", "sign"])
@pytest.mark.parametrize("through_a_link", [False, True])
def test_a_pipe_is_refused_and_stays_a_pipe(
    command: str, through_a_link: bool, model: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    rows = numbers_csv(tmp_path)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    out = pipe
    if through_a_link:
        out = tmp_path / "m.dhag"
        out.symlink_to(pipe.name)
    capsys.readouterr()
    assert main([*_argv(command, model, rows), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        f"--out {str(out)!r} is a named pipe (FIFO), not a file: a model is written as a file of its own"
        in err
    )
    assert pipe.is_fifo() and out.exists() and (out.is_symlink() == through_a_link)


@pytest.mark.parametrize("held", ["empty", "model", "cut short"])
def test_an_empty_file_a_model_and_one_cut_short_are_replaced(
    held: str, model: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    out = tmp_path / "m.dhag"
    whole = model.read_bytes()
    out.write_bytes({"empty": b"", "model": whole, "cut short": whole[:200]}[held])
    assert main(["sign", str(model), "--out", str(out)]) == 0
    assert load_model(out).n_features_in_ == 2


@pytest.mark.parametrize("command", ["train", "sign"])
@pytest.mark.parametrize("cut", [60, 30])
def test_another_kind_of_safetensors_model_cut_short_is_refused(
    command: str, cut: int, model: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    # Its header cut short, as a copy that stopped leaves it, never reaches a marker: it was replaced as
    # a DHAG model cut short is, whatever model it began.
    torch = pytest.importorskip("torch")
    from safetensors.torch import save

    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    monkeypatch.setattr("dhag.estimator.DHAG.fit", lambda *a, **k: pytest.fail("trained before refusing"))
    rows = numbers_csv(tmp_path)
    other = tmp_path / "encoder.safetensors"
    other.write_bytes(save({"weight": torch.zeros(1000)}, metadata={"format": "pt"})[:cut])
    before = other.read_bytes()
    capsys.readouterr()
    assert main([*_argv(command, model, rows), "--out", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"--out {str(other)!r} is a file that holds no DHAG model (it is a safetensors file " in err
    assert other.read_bytes() == before


@pytest.mark.parametrize("cut", [9, 12, 30, 200, 2000])
def test_a_dhag_model_cut_short_anywhere_in_its_header_is_replaced(
    cut: int, model: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    out = tmp_path / "m.dhag"
    out.write_bytes(model.read_bytes()[:cut])
    assert main(["sign", str(model), "--out", str(out)]) == 0
    assert load_model(out).n_features_in_ == 2
