"""What a model set by ``contamination`` records and says of the rows its threshold came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dhag import DHAG
from dhag.cli import main
from dhag.infotext import trained_rows


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(400, 3))


def test_the_record_names_every_normal_row_as_the_source_of_a_contamination_threshold(rows) -> None:
    # The threshold is the share of all the normal rows' scores; the record named the 40 held-out rows
    # ("validation") as its source, with their quantiles.
    model = DHAG(max_epochs=1, contamination=0.1, random_state=0, device="cpu").fit(rows)
    record = model.training_["calibration"]
    assert record["source"] == "training" and record["split"] is None
    assert record["rows"] == model.training_["n_train"] + model.training_["n_validation"] == 400
    assert record["score_quantiles"]["0.9"] == pytest.approx(float(np.quantile(model.decision_scores_, 0.9)))


def test_a_target_far_threshold_still_names_the_held_out_rows(rows) -> None:
    model = DHAG(max_epochs=1, random_state=0, device="cpu").fit(rows)
    record = model.training_["calibration"]
    assert record["source"] == "validation" and record["rows"] == 40


def test_the_summary_of_a_contamination_model_says_no_rows_were_held_out_for_its_threshold(
    rows, tmp_path: Path, capsys
) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("a,b,c\n" + "".join(",".join(f"{v:.4f}" for v in r) + "\n" for r in rows))
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--device", "cpu"]
    assert main([*argv, "--max-epochs", "1", "--quiet", "--contamination", "0.1"]) == 0
    summary = capsys.readouterr().out
    assert "held out for the threshold" not in summary
    assert "360 normal rows and 0 known anomalies (40 normal rows held out of training)" in summary


def test_the_rows_line_of_an_earlier_record_is_as_it_was() -> None:
    record = {"n_train": 360, "n_validation": 40, "n_known_anomalies": 0}
    assert (
        trained_rows(record)
        == "360 normal rows and 0 known anomalies (40 normal rows held out for the threshold)"
    )
