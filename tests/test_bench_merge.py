"""Table 2 runs split by seeds (``--first-seed``) and joined again (``dhag bench merge``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dhag.bench
from dhag.bench import merge_table2
from dhag.bench.table2 import summarise_runs
from dhag.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"benchmark datasets not found at {DATA}")


def _run(seed: int, f1: float, auroc: float, fit: float) -> dict[str, Any]:
    timing = {"fit_seconds": fit, "score_seconds": 0.5}
    return {"seed": seed, "f1": f1, "auroc": auroc, **timing, "n_train_rows": 100}


def _part(seeds: list[int], f1s: list[float], **meta: Any) -> dict[str, Any]:
    pairs = zip(seeds, f1s, strict=True)
    runs = [dict(_run(s, f, 0.9 + 0.01 * s, 10.0 + s), note="dhag defaults") for s, f in pairs]
    base = {"benchmark": "table2", "seeds": seeds, "dhag_members": 5, "total_seconds": 60.0}
    base |= {"command": f"run {seeds}", "date": f"day {seeds[0]}"}
    base["machine"] = {"cpu_model": f"cpu {seeds[0]}"}
    return {"meta": base | meta, "kdd": {"dhag": summarise_runs(runs)}}


def test_a_merge_is_what_one_run_over_all_seeds_would_have_summarised() -> None:
    whole = _part([0, 1, 2, 3, 4], [0.9, 0.8, 0.95, 0.7, 0.85])
    merged = merge_table2([_part([3, 4], [0.7, 0.85]), _part([0, 1, 2], [0.9, 0.8, 0.95])], command="merge")
    assert merged["kdd"] == whole["kdd"]  # per-seed records in seed order, means and spreads recomputed
    assert merged["kdd"]["dhag"]["f1_mean"] == 84.0 and merged["kdd"]["dhag"]["f1_std"] == pytest.approx(8.6)
    meta = merged["meta"]
    assert meta["seeds"] == [0, 1, 2, 3, 4] and meta["total_seconds"] == 120.0 and meta["command"] == "merge"
    assert meta["dhag_members"] == 5
    # Where and how each part ran stays visible: per-seed DHAG results depend on the machine.
    assert [p["seeds"] for p in meta["parts"]] == [[3, 4], [0, 1, 2]]
    assert [p["machine"]["cpu_model"] for p in meta["parts"]] == ["cpu 3", "cpu 0"]


def test_parts_of_different_measurements_are_refused_naming_the_difference() -> None:
    base = _part([0], [0.9])
    with pytest.raises(ValueError, match=r"meta\.dhag_members: 5 in part 1, 1 in part 2"):
        merge_table2([base, _part([1], [0.8], dhag_members=1)])
    with pytest.raises(ValueError, match="Seed 0 of kdd dhag is in more than one part"):
        merge_table2([base, _part([0], [0.8])])
    other = _part([1], [0.8])
    other["kddrev"] = other.pop("kdd")
    with pytest.raises(ValueError, match=r"different seeds \(kdd dhag \[0\]; kddrev dhag \[1\]\)"):
        merge_table2([base, other])
    other = _part([1], [0.8])
    other["kdd"]["dhag"]["note"] = "another model"
    with pytest.raises(ValueError, match="describe different models"):
        merge_table2([base, other])
    not_table2 = _part([1], [0.8], benchmark="semisup")
    with pytest.raises(ValueError, match="not a table2 result"):
        merge_table2([base, not_table2])
    with pytest.raises(ValueError, match="at least two parts"):
        merge_table2([base])
    with pytest.raises(ValueError, match="Part 2 is not a benchmark result"):
        merge_table2([base, [1, 2]])  # type: ignore[list-item]


def test_parts_of_other_datasets_join_into_one_table() -> None:
    kdd = _part([0, 1], [0.9, 0.8], datasets=["kdd"])
    kddrev = _part([0, 1], [0.7, 0.6], datasets=["kddrev"])
    kddrev["kddrev"] = kddrev.pop("kdd")
    merged = merge_table2([kdd, kddrev], command="merge")
    assert list(merged) == ["meta", "kdd", "kddrev"]
    assert merged["kdd"] == kdd["kdd"] and merged["kddrev"] == kddrev["kddrev"]
    meta = merged["meta"]
    assert meta["datasets"] == ["kdd", "kddrev"] and meta["detectors"] == ["dhag"] and meta["seeds"] == [0, 1]
    assert [p["datasets"] for p in meta["parts"]] == [["kdd"], ["kddrev"]]
    # Split by seeds and by datasets at once: each cell gathers its own seeds.
    late = _part([2], [0.5], datasets=["kdd"])
    late_rev = _part([2], [0.4], datasets=["kddrev"])
    late_rev["kddrev"] = late_rev.pop("kdd")
    whole = merge_table2([kdd, kddrev, late, late_rev])
    assert whole["meta"]["seeds"] == [0, 1, 2]
    assert [r["seed"] for r in whole["kddrev"]["dhag"]["per_seed"]] == [0, 1, 2]
    with pytest.raises(ValueError, match="different seeds"):
        merge_table2([kdd, kddrev, late])


def test_the_merge_command_writes_the_joined_result_and_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "ab.json"
    a.write_text(json.dumps(_part([0, 1, 2], [0.9, 0.8, 0.95])))
    b.write_text(json.dumps(_part([3, 4], [0.7, 0.85])))
    assert main(["bench", "merge", str(a), str(b), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["kdd"] == _part([0, 1, 2, 3, 4], [0.9, 0.8, 0.95, 0.7, 0.85])["kdd"]
    assert "84.0 ± 8.6" in capsys.readouterr().out
    assert (
        main(["bench", "merge", str(a), str(a), "--json", str(tmp_path / "x.json")]) == 2
        and "Seed 0 of kdd dhag is in more than one part" in capsys.readouterr().err
    )  # a usage error
    assert (
        main(["bench", "merge", str(a), str(b)]) == 2
        and "two or more table2 JSON files and --json" in capsys.readouterr().err
    )  # a usage error
    # A part cut short said "merge: Expecting value: line 1 column 10 (char 9)", naming no file.
    (tmp_path / "bad.json").write_text('{"meta": ')
    assert (
        main(["bench", "merge", str(a), str(tmp_path / "bad.json"), "--json", str(out)]) == 2
        and f"error: merge: {tmp_path / 'bad.json'}: not valid JSON at line 1, column 10"
        in capsys.readouterr().err
    )  # a usage error
    (tmp_path / "other.json").write_text('{"meta": {"benchmark": "semisup"}, "0.0": {}}')
    assert (
        main(["bench", "merge", str(a), str(tmp_path / "other.json"), "--json", str(out)]) == 2
        and f"merge: {tmp_path / 'other.json'}: meta.benchmark is 'semisup', not 'table2'"
        in capsys.readouterr().err
    )
    assert (
        main(["bench", "speed", str(a)]) == 2 and "unexpected files" in capsys.readouterr().err
    )  # a usage error
    assert not (tmp_path / "x.json").exists()


def test_first_seed_runs_the_named_seeds(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    asked: dict[str, Any] = {}

    def fake_table2(data: Any, **kwargs: Any) -> dict[str, Any]:
        asked.update(kwargs)
        return _part(list(kwargs["seeds"]), [0.5] * len(kwargs["seeds"]))

    monkeypatch.setattr(dhag.bench.table2, "run_table2", fake_table2)
    assert main(["bench", "table2", "--detectors", "dhag", "--first-seed", "3", "--seeds", "2"]) == 0
    assert asked["seeds"] == [3, 4]
    assert (
        main(["bench", "table2", "--first-seed", "-1"]) == 2
        and "--first-seed at least 0" in capsys.readouterr().err
    )  # a usage error
    assert (
        main(["bench", "epochs", "--first-seed", "1"]) == 2
        and "--first-seed is not supported" in capsys.readouterr().err
    )  # a usage error


@needs_data
def test_shuttle_run_in_two_parts_merges_to_the_single_run(tmp_path: Path) -> None:
    def run(name: str, *seeds: str) -> Path:
        out = tmp_path / name
        argv = ["bench", "table2", "--data", str(DATA), "--datasets", "shuttle"]
        argv += ["--detectors", "dhag,iforest"]
        assert main([*argv, *seeds, "--json", str(out)]) == 0
        return out

    whole = json.loads(run("whole.json", "--seeds", "2").read_text())
    parts = [run("p1.json", "--first-seed", "1", "--seeds", "1"), run("p0.json", "--seeds", "1")]
    assert main(["bench", "merge", *map(str, parts), "--json", str(tmp_path / "m.json")]) == 0
    merged = json.loads((tmp_path / "m.json").read_text())
    for det in ("dhag", "iforest"):
        for key in ("f1_mean", "f1_std", "auroc_mean", "auroc_std"):
            assert merged["shuttle"][det][key] == whole["shuttle"][det][key]
        got = [{k: r[k] for k in ("seed", "f1", "auroc")} for r in merged["shuttle"][det]["per_seed"]]
        assert got == [{k: r[k] for k in ("seed", "f1", "auroc")} for r in whole["shuttle"][det]["per_seed"]]


def test_the_table_of_an_ensemble_run_sets_the_mean_beside_its_members() -> None:
    from dhag.bench import format_table2

    part = _part([0, 1], [0.9, 0.7])
    for run, member_f1 in zip(part["kdd"]["dhag"]["per_seed"], ([0.8, 0.6], [0.5, 0.7]), strict=True):
        run["members"] = [{"member": m, "f1": f, "auroc": 0.9 - 0.1 * m} for m, f in enumerate(member_f1)]
    # Member 0: F1 80 and 50, AUROC 90; every member: F1 65, AUROC 85; the ensemble: F1 90 and 70, AUROC
    # 90 and 91.
    row = "| KDD | 65.0 ± 15.0 / 90.0 | 65.0 / 85.0 | 80.0 ± 10.0 / 90.5 |"
    assert row in format_table2(part).splitlines()
    assert "member 0" not in format_table2(_part([0], [0.9]))
