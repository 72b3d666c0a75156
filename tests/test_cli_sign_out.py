"""``dhag sign --out`` checked as ``dhag train --out`` is, before anything is signed: '-' (standard output,
where before a file named '-' was written), a folder, a path under a file and a folder of the system's
own are refused naming --out, where before the write failed with a bare errno ("[Errno 21] Is a
directory", "[Errno 17] File exists", "[Errno 2] No such file or directory")."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

from dhag.artifact import load_model
from dhag.cli import main


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sign_out")
    return one_epoch_model(numbers_csv(folder), folder)


@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("-", "--out '-' names standard output, where the model is not written"),
        ("{folder}", "--out '{folder}' is a folder: name the model file to write"),
        ("{folder}/rows.csv/m.dhag", "'{folder}/rows.csv' is not a folder"),
        ("/proc/m.dhag", "--out '/proc/m.dhag': "),  # as root, no file made there; else, no permission
    ],
)
def test_sign_refuses_an_out_that_takes_no_model(
    out: str, said: str, model: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    folder = model.parent
    monkeypatch.chdir(folder)
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    before = sorted(p.name for p in folder.iterdir())
    capsys.readouterr()
    assert main(["sign", str(model), "--out", out.format(folder=folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dhag sign: error: ") and said.format(folder=folder) in err
    assert err.endswith("; nothing was signed.\n") and err.count("\n") == 1
    assert sorted(p.name for p in folder.iterdir()) == before


def test_sign_writes_into_a_folder_it_makes(model: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    out = model.parent / "new" / "signed.dhag"
    assert main(["sign", str(model), "--out", str(out)]) == 0
    assert capsys.readouterr().out.endswith(f"wrote {out}\n") and load_model(out).n_features_in_ == 2


@pytest.mark.parametrize("command", ["train", "sign", "score"])
def test_out_dot_slash_dash_is_the_file_named_dash(
    command: str, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # What '--out -' is refused with suggests './-' for a file named '-'; before, './-' read as '-' too,
    # and was refused the same way (score wrote to standard output).
    monkeypatch.chdir(tmp_path)
    if command == "sign":
        monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    rows = numbers_csv(tmp_path)
    argv = {
        "train": ["train", "--data", str(rows), "--device", "cpu", "--max-epochs", "1", "--quiet"],
        "sign": ["sign", str(model)],
        "score": ["score", "--model", str(model), "--data", str(rows)],
    }[command]
    capsys.readouterr()
    assert main([*argv, "--out", "./-"]) == 0
    assert (tmp_path / "-").stat().st_size > 0 and not capsys.readouterr().out.startswith("score,")
