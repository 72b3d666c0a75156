"""The protocol's F1 (flag as many rows as there are anomalies) and AUROC, on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from dhag.bench.metrics import auroc, boundary_ties, f1_at_anomaly_rate

Y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0, 1])


def test_perfect_scorer_gets_one_and_reversed_gets_zero() -> None:
    perfect = Y + np.linspace(0, 0.5, Y.size)  # distinct, every anomaly above every normal
    assert f1_at_anomaly_rate(Y, perfect) == 1.0
    assert f1_at_anomaly_rate(Y, -perfect) == 0.0
    assert auroc(Y, perfect) == 1.0 and auroc(Y, -perfect) == 0.0


def test_hand_counted_example() -> None:
    # 3 anomalies, so the top 3 scores are flagged: rows 9 (anomaly), 8 (normal), 6 (anomaly).
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.05, 0.8, 0.9])
    assert f1_at_anomaly_rate(Y, scores) == pytest.approx(2 / 3)
    assert f1_at_anomaly_rate(Y, scores, ties="above") == pytest.approx(2 / 3)


def test_matches_the_literal_percentile_rule_when_scores_are_distinct() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = (rng.random(500) < rng.uniform(0.02, 0.4)).astype(int)
        y[:2] = [0, 1]
        scores = rng.normal(size=500) + 1.5 * y
        threshold = np.percentile(scores, 100 * (1 - y.mean()))
        flagged = scores > threshold
        tp = (flagged & (y == 1)).sum()
        literal = 2 * tp / (flagged.sum() + y.sum())
        assert f1_at_anomaly_rate(y, scores) == pytest.approx(literal)
        assert f1_at_anomaly_rate(y, scores, ties="above") == pytest.approx(literal)


def test_ties_at_the_boundary_give_the_expected_f1_of_a_random_tie_break() -> None:
    # 2 anomalies; one anomaly clearly on top, then one anomaly and two normals tied at 0.5.
    y = np.array([1, 1, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    # The one flag left goes to the tied anomaly with probability 1/3: E[TP] = 1 + 1/3.
    assert f1_at_anomaly_rate(y, scores) == pytest.approx((1 + 1 / 3) / 2)
    assert boundary_ties(y, scores) == 3
    # The literal rule flags only the top row here, whatever the order of the tied rows.
    assert f1_at_anomaly_rate(y, scores, ties="above") == pytest.approx(2 * 1 / (1 + 2))


def test_result_does_not_depend_on_row_order() -> None:
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    scores = np.round(rng.normal(size=100) + y, 1)  # coarse scores: many ties
    order = rng.permutation(100)
    assert f1_at_anomaly_rate(y, scores) == pytest.approx(f1_at_anomaly_rate(y[order], scores[order]))


def test_constant_scores_are_as_good_as_chance() -> None:
    assert f1_at_anomaly_rate(Y, np.ones(Y.size)) == pytest.approx(Y.mean())
    assert auroc(Y, np.ones(Y.size)) == 0.5


@pytest.mark.parametrize(
    "y, scores, match",
    [
        (np.zeros(4), np.arange(4.0), "both"),
        (np.array([0, 1, 2]), np.arange(3.0), "only 0"),
        (np.array([0, 1]), np.array([0.0, np.nan]), "NaN"),
        (np.array([0, 1]), np.arange(3.0), "same length"),
    ],
)
def test_bad_inputs_are_rejected(y, scores, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        f1_at_anomaly_rate(y, scores)
