"""Hostile but realistic inputs to a fitted model: finite values at the edge of what float32 holds,
dtypes callers hand over, and matrices that skip preprocessing. A row the model accepts must get a
finite score in [0, 1]; a row it cannot score must be refused, naming why."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from plant_data import FEATURES, near_float32_limit, normal

from dhag import DHAG, DHAGError, InputError, TrainingError
from dhag.cli import main


def _standardised_rows(model: DHAG, z: np.ndarray) -> pd.DataFrame:
    """Raw rows that the model's preprocessing turns into ``z``."""
    pre = model.preprocessor_
    return pd.DataFrame({n: pre.means_[n] + z[:, i] * pre.scales_[n] for i, n in enumerate(FEATURES)})


def test_rows_the_network_overflows_on_are_refused_not_scored_nan(fitted: DHAG) -> None:
    # Every sign pattern at 3e38 standardised: within float32 (so preprocessing lets them through),
    # but the first layer's sums of such values overflow, and inf - inf is NaN. A NaN score is never
    # above the threshold: the wildest rows would be reported as normal.
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=len(FEATURES))))
    rows = _standardised_rows(fitted, signs * 3e38)
    with pytest.raises(InputError, match=r"\d+ rows? too large for the model to score: .*first: row \d+"):
        fitted.decision_function(rows)
    refused = 0
    for i in range(len(rows)):
        try:
            score = fitted.decision_function(rows.iloc[i : i + 1])
        except InputError:
            refused += 1
            continue
        assert np.isfinite(score).all() and 0.0 <= score[0] <= 1.0
    assert refused  # the case this test is about does occur with this model
    with pytest.raises(InputError, match="too large for the model to score"):
        fitted.explain(rows)
    with pytest.raises(InputError, match="too large for the model to score"):
        fitted.logit_matrix(fitted.transform(rows))
    with pytest.raises(InputError, match="too large for the model to score"):
        fitted.predict(rows)


def test_a_model_whose_weights_are_not_finite_refuses_to_score_naming_its_weights(
    fitted: DHAG, tmp_path, rng
) -> None:
    import torch

    broken = DHAG.load(fitted.save(tmp_path / "m.dhag"))
    with torch.no_grad():
        next(broken.net_.parameters()).fill_(float("nan"))
    with pytest.raises(DHAGError, match="weights are not finite") as caught:
        broken.decision_function(normal(rng, 3))
    assert not isinstance(caught.value, InputError)  # the rows are fine: the model is not


def test_an_integer_too_large_for_a_float_in_an_object_column_is_refused_naming_the_column(
    fitted: DHAG, rng
) -> None:
    rows = normal(rng, 3).astype(object)
    rows[1, 2] = 10**400  # a Python int: exact, but past any float
    with pytest.raises(InputError, match=f"{FEATURES[2]!r} has a value too large for a float at row 1"):
        fitted.decision_function(rows)


@pytest.mark.parametrize("missing", [None, pd.NA])
def test_a_missing_value_in_an_object_column_is_named_as_missing(fitted: DHAG, rng, missing) -> None:
    rows = normal(rng, 4).astype(object)
    rows[2, 0] = missing
    with pytest.raises(InputError, match=f"{FEATURES[0]!r} has 1 missing value\\(s\\) \\(first at row 2\\)"):
        fitted.decision_function(rows)


def test_a_nullable_pandas_column_with_na_is_named_as_missing(fitted: DHAG, rng) -> None:
    frame = pd.DataFrame(normal(rng, 3), columns=FEATURES)
    frame[FEATURES[1]] = pd.array([True, None, False], dtype="boolean")
    with pytest.raises(InputError, match=f"{FEATURES[1]!r} has 1 missing value\\(s\\) \\(first at row 1\\)"):
        fitted.decision_function(frame)


def test_text_in_a_numeric_column_is_refused_showing_the_value_and_row(fitted: DHAG, rng) -> None:
    frame = pd.DataFrame(normal(rng, 3), columns=FEATURES)
    frame[FEATURES[3]] = pd.array(["1.5", "high", "2"], dtype="string")
    # The word, not the number before it that a text column also holds as text.
    with pytest.raises(InputError, match=f"{FEATURES[3]!r} must be numeric .* Got 'high' \\(str\\) at row 1"):
        fitted.decision_function(frame)


def test_a_preprocessed_matrix_of_text_is_an_input_error(fitted: DHAG) -> None:
    with pytest.raises(InputError, match="preprocessed matrix must hold numbers"):
        fitted.score_matrix(np.array([["a"] * len(FEATURES)]))


@pytest.mark.parametrize("odd", [np.complex128(1 + 2j), np.timedelta64(5, "s"), "3.0"])
def test_values_that_only_look_numeric_in_an_object_column_are_refused(fitted: DHAG, rng, odd) -> None:
    rows = normal(rng, 3).astype(object)
    rows[0, 1] = odd
    with pytest.raises(InputError, match=f"{FEATURES[1]!r} must be numeric .* at row 0"):
        fitted.decision_function(rows)


def test_a_fit_whose_normal_rows_already_score_the_maximum_is_warned_of_and_dhag_train_refuses_it(
    quick_model, rng, caplog, tmp_path, capsys
) -> None:
    # A passthrough column is not standardised: readings of 1e20 saturate the network, every held-out
    # normal row scores 1.0, and a threshold of 1.0 can never be exceeded: a model that flags nothing.
    # fit says so, naming the column (its ranking may still serve); `dhag train`, which writes a model
    # to flag rows, refuses it and writes nothing.
    frame = pd.DataFrame(normal(rng, 300), columns=FEATURES)
    frame["raw_counter"] = rng.uniform(1e20, 2e20, size=300)
    cause = r"normal rows score 1\.0, so no row could ever be flagged.*'raw_counter' \(up to [\d.]+e\+20\)"
    with caplog.at_level("WARNING", logger="dhag"):
        model = quick_model(passthrough=["raw_counter"]).fit(frame)
    assert model.threshold_ == 1.0
    assert any(re.search(cause, r.getMessage()) for r in caplog.records), caplog.text
    data, out = tmp_path / "plant.csv", tmp_path / "model.dhag"
    frame.to_csv(data, index=False)
    argv = ["train", "--data", str(data), "--out", str(out), "--passthrough", "raw_counter", "--quiet"]
    assert main([*argv, "--max-epochs", "3", "--seed", "0"]) == 2
    # The command's own settings saturate it either way (here at 0.0): refused, the column named.
    refused = r"so (no row could ever|they could never) be flagged.*'raw_counter' \(up to [\d.]+e\+20\)"
    assert re.search(refused, capsys.readouterr().err) and not out.exists()


def test_a_row_the_model_scores_is_explained_even_where_a_reset_feature_overflows(fitted: DHAG) -> None:
    # explain raised the scoring refusal of the occluded copy, which is no row of the caller's: a
    # flagged row (this one scores the maximum) could not be explained, and `dhag score --explain`
    # failed. The drop for that feature is unknown: NaN, ranked after every known one.
    _, (row, j) = near_float32_limit(fitted)
    score = fitted.decision_function(row[None, :])
    assert np.isfinite(score).all() and fitted.predict(row[None, :]).tolist() == [1]
    reset = row.copy()
    reset[j] = fitted.preprocessor_.means_[FEATURES[j]]
    with pytest.raises(InputError, match="too large for the model to score"):
        fitted.decision_function(reset[None, :])
    ((*known, (last, unknown)),) = fitted.explain(row[None, :])
    assert last == FEATURES[j] and np.isnan(unknown)
    assert all(np.isfinite(c) for _, c in known) and len(known) == len(FEATURES) - 1
    assert [name for name, _ in fitted.explain(row[None, :], top=1)[0]] == [known[0][0]]


@pytest.mark.parametrize("odd", ["x" * 1_000_000, np.arange(100.0).reshape(10, 10), "two\nlines"])
def test_a_non_number_is_shown_on_one_line_of_bounded_length(fitted: DHAG, rng, odd) -> None:
    # The value was shown whole: a text cell of a megabyte made a megabyte message, and an array
    # held in a cell one of ten lines (the CLI prints the message as its one-line error).
    rows = normal(rng, 3).astype(object)
    rows[2, 3] = odd
    with pytest.raises(InputError, match=f"{FEATURES[3]!r} must be numeric .* at row 2") as caught:
        fitted.decision_function(rows)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_a_fit_whose_normal_rows_all_score_zero_is_warned_of(caplog) -> None:
    # The mirror of the above: the huge passthrough column drives the network to 0.0 on every row,
    # the threshold lands on 0.0, and a sensor fault (vibration at 9 standard deviations) scores 0.0
    # too: a model that flags nothing, with only the generic collapse warning to tell; fit names it.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(normal(rng, 600), columns=FEATURES)
    frame["raw_counter"] = rng.uniform(1e20, 2e20, size=600)
    with caplog.at_level("WARNING", logger="dhag"):
        model = DHAG(max_epochs=5, random_state=0, passthrough=["raw_counter"]).fit(frame)
    assert model.threshold_ == 0.0
    cause = r"normal rows score 0\.0, its threshold: .*'raw_counter' \(up to [\d.]+e\+20\)"
    assert any(re.search(cause, r.getMessage()) for r in caplog.records), caplog.text


def test_the_plants_model_trainer_refuses_a_threshold_no_score_can_exceed(history, monkeypatch) -> None:
    # `models train` and the demo serve the model to flag readings: fit's warning is not enough there.
    from pipeline.plantmodel import train_plant_model

    monkeypatch.setattr(DHAG, "_calibrate", lambda self, calibration, training, held_out: 1.0)
    with pytest.raises(TrainingError, match=r"normal rows score 1\.0, so no row could ever be flagged"):
        train_plant_model(history, seed=0, time_budget=None, max_epochs=2)


def test_a_preprocessed_float64_value_beyond_float32_is_named_finite_not_nan(fitted: DHAG) -> None:
    # 1e39 is a finite float64 that only the cast to float32 makes inf: calling it "NaN or infinite"
    # sends the caller looking for NaNs the matrix never held.
    matrix = np.zeros((3, len(FEATURES)))
    matrix[2, 1] = -1e39
    for score in (fitted.score_matrix, fitted.logit_matrix, fitted.score_and_logit_matrix):
        with pytest.raises(InputError, match=r"finite but beyond float32.*row 2.*'" + FEATURES[1]) as caught:
            score(matrix)
        assert "NaN" not in str(caught.value)
    matrix[2, 1] = np.nan  # a real NaN is still called one
    with pytest.raises(InputError, match="NaN or infinite"):
        fitted.score_matrix(matrix)


def test_a_mapping_of_single_values_is_said_to_be_one_row(fitted: DHAG) -> None:
    # One reading as a dict (a record's values) was refused as "must hold 1-D columns of equal length".
    row = dict.fromkeys(FEATURES, 1.0)
    with pytest.raises(InputError) as refused:
        fitted.decision_function(row)
    said = str(refused.value)
    assert "one row" in said and "pd.DataFrame([row])" in said
    assert fitted.decision_function(pd.DataFrame([row])).shape == (1,)


def test_a_mapping_of_columns_of_unequal_length_names_them(fitted: DHAG) -> None:
    columns = {name: np.zeros(3) for name in FEATURES} | {FEATURES[2]: np.zeros(2)}
    with pytest.raises(InputError, match=rf"{FEATURES[0]!r} holds 3 values, {FEATURES[2]!r} 2"):
        fitted.decision_function(columns)
    columns = {name: np.zeros(3) for name in FEATURES} | {FEATURES[1]: np.zeros((3, 2))}
    with pytest.raises(InputError, match=rf"{FEATURES[1]!r} has shape \(3, 2\)"):
        fitted.decision_function(columns)


def test_masked_cells_of_a_masked_array_are_refused_as_missing(quick_model, fitted: DHAG, rng) -> None:
    # netCDF4 reads a variable with gaps as a masked array whose data there is its fill value.
    data = normal(rng, 200)
    data[5, 1] = 9.96921e36
    rows = np.ma.masked_array(data, mask=data > 1e30)
    said = r"Feature '{}' has 1 missing value\(s\) \(first at row 5\): masked"
    with pytest.raises(InputError, match=said.format("x1")):
        quick_model().fit(rows)
    with pytest.raises(InputError, match=said.format("flow_b")):
        fitted.decision_function(rows[:10])  # read in the training order, flow_b second
    with pytest.raises(InputError, match=said.format("flow_b")):
        fitted.decision_function({name: rows[:10, i] for i, name in enumerate(FEATURES)})
    unmasked = np.ma.masked_array(data[:10], mask=False)
    assert fitted.decision_function(unmasked).tolist() == fitted.decision_function(data[:10]).tolist()
