"""``dhag bench``'s options: a value no benchmark can run with, or a ``--json`` that cannot be written, is
refused with exit 2 and a line naming the option, before any benchmark starts."""

from __future__ import annotations

from pathlib import Path

import pytest

import dhag.bench
from dhag.cli import main


@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every benchmark fails the test if it starts: a refusal must come before any work."""

    def started(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the benchmark started")

    for name in ("run_table2", "run_epochs", "run_semisup", "run_speed"):
        monkeypatch.setattr(dhag.bench, name, started)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["speed", "--rows", "1"], "--rows"),
        (["speed", "--epochs", "0"], "--epochs"),
        (["speed", "--score-rows", "-1"], "--score-rows"),
        (["speed", "--score-snapshots", "0"], "--score-snapshots"),
        (["speed", "--score-members", "0"], "--score-members"),
        (["epochs", "--every", "0"], "--every"),
        (["epochs", "--every", "101"], "--every"),
        (["table2", "--dhag-members", "0"], "--dhag-members"),
        (["table2", "--dhag-snapshots", "-2"], "--dhag-snapshots"),
        (["table2", "--peer-rows", "-1"], "--peer-rows"),
    ],
)
def test_a_count_out_of_range_is_refused_naming_the_option(
    argv: list[str], option: str, nothing_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dhag bench: error: ") and option in err and "Traceback" not in err


@pytest.mark.parametrize("bench", ["table2", "epochs", "semisup", "speed"])
def test_a_json_that_is_a_folder_is_refused_before_the_benchmark(
    bench: str, tmp_path: Path, nothing_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", bench, "--json", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--json {str(tmp_path)!r} is a folder" in err and "nothing was run" in err


def test_a_json_under_a_file_is_refused_before_the_benchmark(
    tmp_path: Path, nothing_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes").write_text("a file, not a folder\n")
    assert main(["bench", "speed", "--json", str(tmp_path / "notes" / "speed.json")]) == 2
    assert "is not a folder; nothing was run" in capsys.readouterr().err


def test_a_merge_into_a_folder_is_refused_before_reading_the_parts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]  # not there: the --json is said first
    assert main(["bench", "merge", *parts, "--json", str(tmp_path)]) == 2
    assert f"--json {str(tmp_path)!r} is a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["table2", "--capped-peers", "ocsvm,knnn"], "unknown --capped-peers ['knnn']"),
        (["table2", "--capped-peers", "dhag"], "unknown --capped-peers ['dhag']"),
        (["table2", "--datasets", "thyroid,shuttle,thyroid"], "--datasets names 'thyroid' more than once"),
        (["table2", "--detectors", "dhag,knn,dhag"], "--detectors names 'dhag' more than once"),
        (["table2", "--capped-peers", "knn,knn"], "--capped-peers names 'knn' more than once"),
    ],
)
def test_a_name_list_with_an_unknown_or_repeated_name_is_refused(
    argv: list[str], said: str, nothing_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *argv]) == 2
    assert said in capsys.readouterr().err


def test_seeds_past_the_models_range_are_refused_naming_the_options(
    nothing_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "table2", "--first-seed", "4294967295", "--seeds", "2"]) == 2
    err = capsys.readouterr().err
    assert "--first-seed" in err and "--seeds" in err and "4294967295" in err and "random_state" not in err


def test_a_data_path_that_is_a_file_is_said_to_be_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.csv"
    history.write_text("t,a\n0,1\n")
    assert main(["bench", "table2", "--data", str(history), "--datasets", "thyroid", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert f"the data folder {history} is a file, not a folder" in err and "does not exist" not in err


@pytest.mark.parametrize("bench", ["semisup", "speed"])
def test_datasets_given_to_a_benchmark_that_takes_none_are_refused(
    bench: str, nothing_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", bench, "--datasets", "kdd"]) == 2
    assert f"{bench}: --datasets is not taken" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"), [("--datasets", ""), ("--datasets", " , "), ("--detectors", ",")]
)
def test_a_name_list_that_names_nothing_is_refused(
    option: str, value: str, nothing_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: --detectors "" ran no detector and printed an empty table (exit 0); --datasets "" ran all
    # five, KDD's hours included, as if it had not been given.
    assert main(["bench", "table2", option, value]) == 2
    assert f"{option} names nothing" in capsys.readouterr().err
