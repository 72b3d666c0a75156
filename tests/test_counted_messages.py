"""The library's warnings and log lines that count rows, epochs or weight tensors say one in the singular
('calibrated on 1 held-out normal row', 'trained 1 epoch', 'scored 1 row') and more in the plural."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_files import numbers_csv, one_epoch_model
from plant_data import normal

from dhag import DHAG, DHAGError, InputError, TrainingError
from dhag.cli import main
from dhag.health import check_finite_weights, warn_small_calibration
from dhag.scoring import checked_matrix, refuse_unscored


def _said(caplog, words: str) -> str:
    (said,) = [r.getMessage() for r in caplog.records if words in r.getMessage()]
    return said


def test_a_fit_holding_one_row_out_says_one_row_and_one_epoch(rng, caplog) -> None:
    # Before: "the threshold was calibrated on 1 held-out normal rows", "trained 1 epochs in 0.1s" and
    # "early_stopping has 1 held-out normal rows to watch".
    with caplog.at_level("INFO", logger="dhag"):
        DHAG(max_epochs=1, early_stopping=True, random_state=0).fit(normal(rng, 12))
    calibrated, watched = _said(caplog, "calibrated on"), _said(caplog, "early_stopping has")
    assert calibrated.startswith("the threshold was calibrated on 1 held-out normal row: ")
    assert watched.startswith("early_stopping has 1 held-out normal row to watch (")
    assert "lowest objective on the 11 rows it trains on" in watched
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("trained 1 epoch in ")]


def test_a_threshold_on_the_one_row_trained_on_says_one_row(caplog) -> None:
    with caplog.at_level("WARNING", logger="dhag"):
        warn_small_calibration(1, 0.01, held_out=False)
        warn_small_calibration(2, 0.01)
    said = [r.getMessage() for r in caplog.records]
    assert said[0].startswith("the threshold was calibrated on the 1 row the network trained on (")
    assert said[1].startswith("the threshold was calibrated on 2 held-out normal rows: ")


@pytest.mark.parametrize(
    ("rows", "far", "said"),
    [
        (1, 0.01, "0.01 expected false alarms"),
        (60, 0.01, "0.6 expected false alarms"),
        (210, 0.01, "2.1 expected false alarms"),
        (100, 0.01, "1 expected false alarm,"),
    ],
)
def test_expected_false_alarms_keep_their_significant_digits(rows, far, said, caplog) -> None:
    # Before: "at target_far 0.01 that is 0.0 expected false alarms" of one row (and "1.0 ... alarms").
    with caplog.at_level("WARNING", logger="dhag"):
        assert warn_small_calibration(rows, far)
    assert f"at target_far {far:g} that is {said}" in _said(caplog, "calibrated on")


@pytest.mark.parametrize(
    ("broken", "said", "counted"),
    [(1, "1 weight tensor is", "1 tensor"), (2, "2 weight tensors are", "2 tensors")],
)
def test_weights_not_finite_are_counted_singular_or_plural(broken: int, said: str, counted: str) -> None:
    layer = torch.nn.Linear(2, 2)
    with torch.no_grad():
        for p in list(layer.parameters())[:broken]:
            p.fill_(float("nan"))
    with pytest.raises(TrainingError, match=f"diverged: {said} not finite"):
        check_finite_weights(layer)
    with pytest.raises(DHAGError, match=rf"not finite \({counted}, first"):
        refuse_unscored(np.array([False]), layer)


def test_scoring_one_row_logs_one_row(tmp_path: Path, capsys, caplog) -> None:
    model = one_epoch_model(numbers_csv(tmp_path), tmp_path)
    one = tmp_path / "one.csv"
    one.write_text("a,b\n3,3\n")
    with caplog.at_level(logging.INFO, logger="dhag"):
        assert main(["score", "--model", str(model), "--data", str(one), "--device", "cpu"]) == 0
    assert _said(caplog, "above threshold").startswith("scored 1 row, ")


@pytest.mark.parametrize(("bad", "said"), [(1, "1 row holds NaN"), (2, "2 rows hold NaN")])
def test_rows_refused_for_nan_are_counted_singular_or_plural(bad: int, said: str) -> None:
    matrix = np.zeros((3, 2))
    matrix[:bad, 0] = np.nan
    with pytest.raises(InputError, match=f"^{said} or infinite values"):
        checked_matrix(matrix, 2)


def test_one_row_beyond_float32_or_overflowing_says_one_row() -> None:
    # Before: "1 row(s) hold values that are finite but beyond float32" and "1 row(s) too large for the
    # model to score: the network overflows float32 on them".
    with pytest.raises(InputError, match="^1 row holds values that are finite but beyond float32"):
        checked_matrix(np.array([[1e39, 0.0], [0.0, 0.0]]), 2)
    with pytest.raises(InputError, match="^1 row too large for the model to score: .* float32 on it "):
        refuse_unscored(np.array([True, False]), torch.nn.Linear(2, 2))


def test_time_budget_scoring_warning_counts_one_network(rng, caplog) -> None:
    # Before: "scoring the 64 rows for the threshold with 1 network(s) may take ...".
    with caplog.at_level("WARNING", logger="dhag"):
        DHAG(max_epochs=1, time_budget=1e-6, random_state=0).fit(normal(rng, 80))
    said = _said(caplog, "for the threshold with")
    assert " rows for the threshold with 1 network may take " in said, said
