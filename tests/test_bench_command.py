"""A bench's JSON records in ``meta.command`` the command a reader types to run it again
(``dhag-pipeline bench drift ...``, ``python -m dhag bench merge ...``), not the path of the module or
script that ran in one clone or environment (``/some/clone/pipeline/__main__.py bench drift ...``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dhag.bench.table2 import summarise_runs
from pipeline.benchio import emit

ROOT = Path(__file__).resolve().parents[1]


def _part(seeds: list[int]) -> dict:
    run = {
        "f1": 0.9,
        "auroc": 0.95,
        "fit_seconds": 1.0,
        "score_seconds": 0.5,
        "n_train_rows": 10,
        "note": "-",
    }
    runs = [{"seed": s, **run} for s in seeds]
    meta = {"benchmark": "table2", "seeds": seeds, "total_seconds": 2.0, "command": "x", "date": "d"}
    return {"meta": meta, "kdd": {"dhag": summarise_runs(runs)}}


def test_python_m_dhag_bench_records_the_command_as_typed(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_part([0])))
    (tmp_path / "my b.json").write_text(json.dumps(_part([1])))
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    argv = ["bench", "merge", "a.json", "my b.json", "--json", "ab.json"]
    done = subprocess.run([sys.executable, "-m", "dhag", *argv], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Before: "/<this clone>/dhag/__main__.py bench merge a.json my b.json --json ab.json".
    command = json.loads((tmp_path / "ab.json").read_text())["meta"]["command"]
    assert command == "python -m dhag bench merge a.json 'my b.json' --json ab.json"


@pytest.mark.parametrize(
    ("script", "module", "typed"),
    [
        ("/some/clone/pipeline/__main__.py", "pipeline.__main__", "python -m pipeline"),
        ("/some/env/bin/dhag-pipeline", None, "dhag-pipeline"),
    ],
)
def test_a_pipeline_bench_records_the_command_as_typed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    script: str, module: str | None, typed: str,
) -> None:  # fmt: skip
    monkeypatch.setattr(sys, "argv", [script, "bench", "drift", "--assets", "6", "--json", "d.json"])
    main = SimpleNamespace(__spec__=None if module is None else SimpleNamespace(name=module))
    monkeypatch.setitem(sys.modules, "__main__", main)  # as `python -m pipeline` or the script runs it
    emit({"streams": {}}, tmp_path / "d.json")
    capsys.readouterr()
    command = json.loads((tmp_path / "d.json").read_text())["meta"]["command"]
    assert command == f"{typed} bench drift --assets 6 --json d.json"
