"""``retrain.min_normal_rows`` that the samples a run trains on would hold only if few of their readings
were held out: valid (the cut is by time, and a sample bunched in time trains more), but most runs would
end for too few normal rows, so ``check-config`` warns naming the keys. Before, only a minimum above
everything the samples can hold was refused, and one above what they train on was taken silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.retrain.samples import split
from pipeline.settingnotes import normal_rows_note, trained_share


def _settings(**retrain: float) -> Settings:
    # The arithmetic below is of a 20000-reading reference sample (the default holds 100000).
    return Settings.model_validate({"retrain": {"reference_sample_size": 20_000, **retrain}})


def test_a_minimum_above_what_full_samples_train_on_is_warned_of_naming_the_keys() -> None:
    # 20000 + 20000 readings, half held out (holdout_fraction 0.3: every 3rd block for the gate, every
    # 6th for the threshold): 20000 train.
    note = normal_rows_note(_settings(min_normal_rows=30_000))
    assert note is not None
    assert note.startswith("retrain.min_normal_rows (30000) is more than the about 20000 normal readings")
    for key in ("retrain.holdout_fraction (0.3)", "retrain.normal_sample_size (20000)"):
        assert key in note
    assert "retrain.reference_sample_size (20000)" in note


def test_the_share_held_out_counts() -> None:
    assert normal_rows_note(_settings(min_normal_rows=30_000, holdout_fraction=0.1)) is None  # 0.85 train
    assert normal_rows_note(_settings(min_normal_rows=15_000, holdout_fraction=0.5)) is not None  # 0.25
    assert normal_rows_note(Settings()) is None


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.3, 0.5, 0.7])
def test_the_share_is_the_one_a_run_trains_on(fraction: float) -> None:
    normal = [("p1", float(t), {"x": 0.0}) for t in range(0, 48 * 3600, 60)]
    data = split([], normal, fraction)
    assert abs(len(data.normal_train) / len(normal) - trained_share(fraction)) < 0.03


def test_check_config_says_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("retrain:\n  min_normal_rows: 30000\n  reference_sample_size: 20000\n")
    assert main(["check-config", "--config", str(config)]) == 0
    assert "warning: retrain.min_normal_rows (30000) is more than" in capsys.readouterr().err


def test_the_retrainer_says_it_as_it_starts(caplog: pytest.LogCaptureFixture) -> None:
    from pipeline import cli

    with caplog.at_level("WARNING"):
        cli.log_start_notes(_settings(min_normal_rows=30_000), retrainer=True)
    assert "retrain.min_normal_rows (30000) is more than" in caplog.text
