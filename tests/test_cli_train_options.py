"""``dhag train`` and ``dhag score`` options out of range: refused by the option's name, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_files import numbers_csv

from dhag.cli import main


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--seed", "-1", "--seed must be an int in [0, 4294967295]. Got -1."),
        ("--members", "0", "--members must be an int in [1, 20] (each member is a whole training). Got 0."),
        (
            "--members",
            "500",
            "--members must be an int in [1, 20] (each member is a whole training). Got 500.",
        ),
        ("--snapshots", "0", "--snapshots must be an int >= 1. Got 0."),
        ("--max-epochs", "0", "--max-epochs must be an int >= 1. Got 0."),
        ("--batch-size", "0", "--batch-size must be an int >= 1. Got 0."),
        ("--time-budget", "-1", "--time-budget must be a finite number of seconds > 0. Got -1.0."),
        ("--target-far", "0.5", "--target-far must be a float in (0, 0.5). Got 0.5."),
        ("--contamination", "0.7", "--contamination must be a float in (0, 0.5]. Got 0.7."),
        ("--device", "tpu", "--device must be 'auto', 'cpu' or 'cuda[:N]'. Got 'tpu'."),
    ],
)
def test_a_train_option_out_of_range_is_named_as_the_option_before_the_data_is_read(
    option: str, value: str, said: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    data = numbers_csv(tmp_path)
    monkeypatch.setattr("dhag.commands.read_table", lambda *a, **k: pytest.fail("read the data first"))
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--quiet", option, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    # It said "The 'random_state' parameter of DHAG must be None or an int ...": a name the user never typed.
    assert err.strip() == f"dhag train: error: {said}"
    assert not (tmp_path / "m.dhag").exists()


def test_a_score_device_out_of_range_is_named_as_the_option(tmp_path: Path, capsys) -> None:
    data = numbers_csv(tmp_path)
    assert main(["score", "--model", str(tmp_path / "m.dhag"), "--data", str(data), "--device", "tpu"]) == 2
    assert capsys.readouterr().err.strip() == (
        "dhag score: error: --device must be 'auto', 'cpu' or 'cuda[:N]'. Got 'tpu'."
    )


def test_target_far_beside_contamination_is_refused_as_an_option_that_would_do_nothing(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    # The threshold is set by one of them: --contamination won, and --target-far 0.02 was silently ignored.
    data = numbers_csv(tmp_path)
    monkeypatch.setattr("dhag.commands.read_table", lambda *a, **k: pytest.fail("read the data first"))
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--quiet"]
    assert main([*argv, "--contamination", "0.05", "--target-far", "0.02"]) == 2
    err = capsys.readouterr().err
    assert "--target-far" in err and "--contamination" in err and "one of them" in err
    assert not (tmp_path / "m.dhag").exists()


class _DataReadError(Exception):
    """Raised where the data is read: the options were taken."""


def test_the_most_members_are_taken(tmp_path: Path, monkeypatch) -> None:
    data = numbers_csv(tmp_path)

    def read(*args: object, **kwargs: object) -> None:
        raise _DataReadError

    monkeypatch.setattr("dhag.commands.read_table", read)
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--quiet", "--members", "20"]
    with pytest.raises(_DataReadError):
        main(argv)
