"""``dhag bench show`` of a file that is no table2 result says what is wrong with it in the file's terms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dhag.bench.table2 import summarise_runs
from dhag.cli import main


def _result() -> dict[str, Any]:
    run = {"seed": 0, "f1": 0.8, "auroc": 0.9, "fit_seconds": 1.0, "score_seconds": 0.1}
    cell = summarise_runs([{**run, "n_train_rows": 9, "note": "n"}])
    return {"meta": {"benchmark": "table2"}, "thyroid": {"dhag": cell, "knn": dict(cell)}}


def _shown(path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    path.write_text(text)
    assert main(["bench", "show", str(path)]) == 2  # a usage error, as docs/library.md says of bench
    return capsys.readouterr().err


def test_a_truncated_file_is_named_as_no_json_with_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(_result(), indent=1)
    err = _shown(tmp_path / "cut.json", text[: len(text) // 2], capsys)
    line = text[: len(text) // 2].count("\n") + 1
    assert f"cut.json: not valid JSON at line {line}, column" in err
    assert "not iterable" not in err


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda r: [r], "holds a JSON array, not an object"),
        (lambda r: {"speed": 1}, "'speed' is 1 (number), not an object of detectors"),
        (lambda r: {"meta": None}, "meta is null, not an object"),
        (lambda r: {"meta": {"benchmark": "speed"}}, "meta.benchmark is 'speed', not 'table2'"),
        (lambda r: {"meta": {"benchmark": "table2"}}, "holds no dataset"),
        (lambda r: {**r, "thyroid": {"dhag": {}}}, "thyroid.dhag has no key 'f1_mean'"),
        (
            lambda r: {**r, "thyroid": {"dhag": {**r["thyroid"]["dhag"], "f1_std": "1"}}},
            'thyroid.dhag.f1_std is "1" (string), not a number',
        ),
        (
            lambda r: {**r, "thyroid": {"dhag": {**r["thyroid"]["dhag"], "per_seed": [{}]}}},
            "thyroid.dhag.per_seed[0] has no key 'seed'",
        ),
        (
            lambda r: {
                **r,
                "thyroid": {"dhag": {k: v for k, v in r["thyroid"]["dhag"].items() if k != "per_seed"}},
            },
            "thyroid.dhag has no key 'per_seed'",
        ),
        (
            lambda r: {
                **r,
                "thyroid": {
                    "dhag": {**r["thyroid"]["dhag"], "per_seed": [{"seed": 0, "f1": 1, "members": 3}]}
                },
            },
            "thyroid.dhag.per_seed[0].members is 3 (number), not a list of members",
        ),
    ],
)
def test_a_file_of_another_shape_names_the_key_that_is_missing_or_of_the_wrong_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, said: str
) -> None:
    err = _shown(tmp_path / "other.json", json.dumps(change(_result())), capsys)
    assert f"other.json: {said}" in err and "not iterable" not in err


def test_a_missing_file_is_said_to_be_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "show", str(tmp_path / "gone.json")]) == 2
    assert "gone.json: cannot be read (No such file or directory)" in capsys.readouterr().err
