"""``models train`` says when its ``--time-budget`` ended the training, and how far the model got."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli import main


def test_models_train_says_its_time_budget_ended_the_training_and_how_far_it_got(
    tmp_path: Path, capsys
) -> None:
    # Before: "v1 is current: trained on 648 rows in 1 s, ...", as if every row had been trained on for
    # every planned epoch, when the budget had ended the training after its first update.
    history = tmp_path / "history.csv"
    assert main(["simulate", "--history", str(history), "--assets", "2", "--hours", "3"]) == 0
    base = ["models", "--registry", str(tmp_path / "registry"), "train", str(history), "--version", "v1"]
    capsys.readouterr()
    assert main([*base, "--time-budget", "0.0001"]) == 0
    said = capsys.readouterr().out.splitlines()[-1]
    assert said.startswith("v1 is current: trained on ")
    assert "--time-budget (0.0001 s) ended its training after 1 of its 30 epochs" in said
    assert "raise --time-budget" in said


class _Clock:
    """A clock for ``dhag.training`` that moves 10 ms each time it is read (about once an update)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.01
        return self.now


def test_a_budget_that_ended_the_first_epoch_is_said_with_the_share_of_the_rows_seen(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    import dhag.training

    history = tmp_path / "history.csv"
    assert main(["simulate", "--history", str(history), "--assets", "12", "--hours", "4"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(dhag.training, "time", _Clock())
    root = tmp_path / "registry"
    assert main(["models", "--registry", str(root), "train", str(history), "--time-budget", "0.05"]) == 0
    said = capsys.readouterr().out.splitlines()[-1]
    assert "--time-budget (0.05 s) ended its training after " in said
    assert " updates of its first epoch (" in said and "% of its rows)" in said
