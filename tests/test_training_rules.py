"""The training-side rules of DHAG.fit: the collapse test and its retry, the L_ce controller, the
shifted-row anomalies (offset and beyond the range) and the floor under the threshold."""

from __future__ import annotations

import numpy as np
import pytest
from plant_data import auroc, normal, relation_broken

from dhag import DHAG, ParameterError


def test_a_collapsed_training_is_reported_and_a_healthy_one_is_not(fitted: DHAG, caplog) -> None:
    # Rows that repeat three patterns leave nothing to learn: L_ce ends at a constant predictor's, with
    # the paper's fixed lambda1 (measured 1.002) and with the controller too (0.99, lambda1 at 0.27).
    gen = np.random.default_rng(0)
    rows = gen.normal(size=(3, 5))[gen.integers(0, 3, 2000)]
    with caplog.at_level("WARNING", logger="dhag.retry"):
        model = DHAG(max_epochs=10, collapse_retry=False, random_state=0).fit(rows)
    assert model.training_["collapsed"] is True
    assert model.training_["ce_vs_constant"] >= 0.99
    assert any(r.levelname == "WARNING" and "collapsed" in r.getMessage() for r in caplog.records)
    # The plant fixture learns its relation well enough: measured 0.95 of a constant predictor's L_ce.
    assert fitted.training_["collapsed"] is False
    assert fitted.training_["ce_vs_constant"] < 0.98


def test_the_collapse_is_measured_against_the_constant_of_the_weighting_trained_with(train_rows) -> None:
    # Per class, a constant predictor gets 2 ln 2 (1.386); row by row with k = 0.4 it gets 1.222. A
    # collapsed class-weighted fit must read about 1.0 (measured 1.006), not 1.386 / 1.222 = 1.13.
    gen = np.random.default_rng(0)
    rows = gen.normal(size=(3, 5))[gen.integers(0, 3, 2000)]
    model = DHAG(max_epochs=10, collapse_retry=False, ce_weighting="classes", random_state=0).fit(rows)
    assert model.training_["collapsed"] is True
    assert 0.99 <= model.training_["ce_vs_constant"] < 1.05
    for record in model.training_["history"]:
        assert record["ce"] / record["ce_ratio"] == pytest.approx(2 * np.log(2))
    # The plant rows are learned per class too: measured 0.86 of the constant (0.93 row by row).
    healthy = DHAG(max_epochs=15, batch_size=128, ce_weighting="classes", random_state=0).fit(train_rows)
    assert healthy.training_["collapsed"] is False and len(healthy.training_["attempts"]) == 1


def test_a_collapsed_training_is_retried_with_the_anti_collapse_rules_from_the_same_seed(train_rows) -> None:
    # A tiny learning rate for the encoder and perturbators: the paper's objective learns nothing in
    # 3 epochs and ends at a constant predictor's L_ce; the retry is exactly a fresh fit with the rules on:
    # the shifted rows by default, and the L_ce controller too with retry_ce_target (the plant model's).
    params = {"max_epochs": 3, "batch_size": 128, "lr": 1e-7, "random_state": 0}
    rows = train_rows[:100]
    for retry_target in (None, 0.9):
        retried = DHAG(retry_ce_target=retry_target, **params).fit(train_rows)
        first, last = retried.training_["attempts"]
        assert first["collapsed"] is True and first["ce_target"] is None and first["shift_weight"] == 0.0
        assert last["ce_target"] == retry_target and last["shift_weight"] == 1.0
        assert retried.training_["ce_vs_constant"] == last["ce_vs_constant"]
        fresh = DHAG(ce_target=retry_target, shift_weight=1.0, **params).fit(train_rows)
        assert len(fresh.training_["attempts"]) == 1
        np.testing.assert_array_equal(retried.decision_function(rows), fresh.decision_function(rows))
    # A target the user set for the first training is kept in the retry.
    own = DHAG(ce_target=0.5, retry_ce_target=0.9, **params).fit(train_rows)
    assert {a["ce_target"] for a in own.training_["attempts"]} == {0.5}
    # Switched off, the collapse is only reported; a healthy training is never retried.
    plain = DHAG(collapse_retry=False, **params).fit(train_rows)
    assert len(plain.training_["attempts"]) == 1 and plain.training_["collapsed"] is True


def test_a_healthy_training_runs_once(fitted: DHAG) -> None:
    assert len(fitted.training_["attempts"]) == 1
    assert fitted.training_["attempts"][0]["collapsed"] is False


# -- the training-side rules -------------------------------------------------------------------------
def test_the_controller_pulls_l_ce_down_to_its_target_where_a_fixed_lambda1_does_not(train_rows) -> None:
    # Measured on the plant rows, 40 epochs, no shifted rows: the paper's fixed lambda1 = 1 ends at
    # 0.95 of a constant predictor's L_ce (the session fixture, 15 epochs: 0.93); ce_target=0.5 lowers
    # lambda1 to about 0.03 and ends at 0.43.
    held = DHAG(max_epochs=40, batch_size=128, shift_weight=0.0, ce_target=0.5, random_state=0)
    held.fit(train_rows)
    assert held.training_["ce_vs_constant"] < 0.6
    assert held.training_["lambda_norm_final"] < 0.2
    lambdas = [h["lambda_norm"] for h in held.training_["history"]]
    assert lambdas[0] < 1.0 and min(lambdas) < lambdas[0]


def test_without_a_target_lambda1_stays_fixed(quick_model, rng) -> None:
    model = quick_model(max_epochs=3, lambda_norm=0.7, collapse_retry=False).fit(normal(rng, 300))
    assert {h["lambda_norm"] for h in model.training_["history"]} == {0.7}
    assert model.training_["lambda_norm_final"] == 0.7


def test_the_training_rules_are_deterministic_with_a_seed_and_recorded(quick_model, rng) -> None:
    rows = normal(rng, 400)
    a = quick_model(max_epochs=4, ce_target=0.7, shift_weight=1.0, random_state=3).fit(rows)
    b = quick_model(max_epochs=4, ce_target=0.7, shift_weight=1.0, random_state=3).fit(rows)
    assert a.training_["history"] == b.training_["history"]
    np.testing.assert_array_equal(a.decision_function(rows[:50]), b.decision_function(rows[:50]))
    assert a.training_["lambda_norm_final"] == a.training_["history"][-1]["lambda_norm"]
    assert a.training_["outlier_probe_auroc"] > 0.9
    assert all(h["shifted"] > 0 for h in a.training_["history"])
    off = quick_model(max_epochs=4, shift_weight=0.0, random_state=3).fit(rows)
    assert all(h["shifted"] == 0 for h in off.training_["history"])


def test_shifted_row_anomalies_teach_in_range_relations(train_rows) -> None:
    # The same model with and without the shifted-row anomalies: measured 0.88 against 0.54 on rows
    # that break flow_total = flow_a + flow_b (seed 0); gross outliers stay near 1.0 in both.
    gen = np.random.default_rng(1)
    normal_rows, broken = normal(gen, 300), relation_broken(gen, 150)
    params = {"max_epochs": 15, "batch_size": 128, "random_state": 0}
    scores = {}
    for weight in (0.0, 1.0):
        model = DHAG(shift_weight=weight, **params).fit(train_rows)
        scores[weight] = auroc(model.decision_function(normal_rows), model.decision_function(broken))
    assert scores[1.0] >= scores[0.0] + 0.2, scores


def test_an_offset_shift_must_move_the_value(rng) -> None:
    # Beyond the range a margin of 0 is still outside every training value; an offset of 0 is the row.
    with pytest.raises(ParameterError, match="shift_range"):
        DHAG(shift_mode="offset", shift_range=(0.0, 2.0)).fit(normal(rng, 50))


@pytest.mark.parametrize("mode", ["offset", "beyond"])
def test_shift_mode_reaches_training_with_the_training_rows_range(mode: str, rng, monkeypatch) -> None:
    import dhag.training

    seen = []
    original = dhag.training.shifted_rows

    def spy(x, columns, shift_range, generator=None, bounds=None):
        seen.append((shift_range, bounds))
        return original(x, columns, shift_range, generator, bounds=bounds)

    monkeypatch.setattr(dhag.training, "shifted_rows", spy)
    rows = normal(rng, 200)
    r = (0.0, 2.0) if mode == "beyond" else (2.0, 4.0)
    model = DHAG(
        max_epochs=1, batch_size=64, shift_weight=1.0, shift_mode=mode, shift_range=r, random_state=0
    )
    model.fit(rows)
    assert seen and all(s == r for s, _ in seen)
    if mode == "offset":
        assert all(b is None for _, b in seen)
        return
    low, high = seen[0][1]
    z = model.preprocessor_.transform(dict(zip(model.feature_names_in_, rows.T, strict=True)))
    # The training rows are the 90 % not held out for calibration: their range lies within all rows'.
    assert (low.numpy() >= z.min(axis=0) - 1e-6).all() and (high.numpy() <= z.max(axis=0) + 1e-6).all()
    assert (high - low).min() > 2.0


def test_min_threshold_raises_a_threshold_below_it_and_leaves_one_above_it(rng) -> None:
    rows = normal(rng, 400)
    params = {"max_epochs": 2, "batch_size": 64, "random_state": 0}
    plain = DHAG(**params).fit(rows)
    floored = DHAG(min_threshold=0.99, **params).fit(rows)
    low = DHAG(min_threshold=0.0, **params).fit(rows)
    assert plain.threshold_ < 0.99 and floored.threshold_ == 0.99
    assert low.threshold_ == plain.threshold_  # the same training; the quantile is above the floor
    by_share = DHAG(contamination=0.05, min_threshold=0.99, **params).fit(rows)
    assert by_share.threshold_ == 0.99
