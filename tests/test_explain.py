"""DHAG.explain: which features push a row's score up, ranked, with the logit breaking ties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from plant_data import FEATURES, gross_outliers, normal

from dhag import DHAG, InputError
from dhag.modules import SCORING_ROWS


@pytest.mark.parametrize("sensor", range(4))
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_explain_ranks_the_faulty_sensor_first(fitted: DHAG, rng, sensor: int, sign: float) -> None:
    rows = normal(rng, 20)
    spread = np.sqrt(2.0) if FEATURES[sensor] == "flow_total" else 1.0
    rows[:, sensor] = sign * 7.0 * spread  # seven standard deviations off, the rest of the row normal
    ranked = fitted.explain(rows)
    tops = [r[0][0] for r in ranked]
    assert tops.count(FEATURES[sensor]) >= 18, tops
    for r in ranked:
        assert sorted(name for name, _ in r) == sorted(FEATURES)
        contributions = [c for _, c in r]
        assert contributions == sorted(contributions, reverse=True)
        assert contributions[0] > 0
    assert [len(r) for r in fitted.explain(rows[:2], top=2)] == [2, 2]


@pytest.mark.parametrize("sensor", [1, 2, 3])
def test_explain_names_the_sensor_pushed_furthest_of_a_row_scored_exactly_one(
    fitted: DHAG, rng, sensor: int
) -> None:
    # A gross anomaly scores exactly 1.0 (the sigmoid saturates in float64), and so does the row with
    # any one feature reset while another stays far out: every score drop was 0.0 and the stable sort
    # named the first columns whatever the fault. Ties are broken by the drop of the network's output.
    pre, other = fitted.preprocessor_, (sensor + 1) % len(FEATURES)
    rows = normal(rng, 5)
    for j, scales in [(sensor, 2000.0), (other, 800.0)]:
        rows[:, j] = pre.means_[FEATURES[j]] + scales * pre.scales_[FEATURES[j]]
    assert (fitted.decision_function(rows) == 1.0).all()
    for ranked in fitted.explain(rows):
        assert ranked[0][0] == FEATURES[sensor], ranked
        assert [c for _, c in ranked] == sorted((c for _, c in ranked), reverse=True)


def test_explain_in_chunks_of_bounded_memory_gives_the_same_ranking(fitted: DHAG, rng, monkeypatch) -> None:
    # The occluded copies are rows x features x columns: at once, 200k rows of 100 columns took 8 GB.
    import dhag.attribution

    rows = normal(rng, 50)
    whole = fitted.explain(rows, top=np.int64(3))  # a numpy count of features is a count too
    monkeypatch.setattr(dhag.attribution, "_CHUNK_FLOATS", 7 * len(FEATURES) ** 2)  # seven rows a call
    chunked = fitted.explain(rows, top=3)
    assert [[n for n, _ in r] for r in chunked] == [[n for n, _ in r] for r in whole]
    np.testing.assert_allclose(
        [[c for _, c in r] for r in chunked], [[c for _, c in r] for r in whole], atol=1e-6
    )


def test_a_feature_whose_reset_leaves_the_row_unchanged_contributes_exactly_zero(fitted: DHAG) -> None:
    # The row and its reset copies are scored in batches of different sizes, whose float32 sums differ
    # in the last bits: a row at the training means got -2e-8 per feature instead of 0.
    pre = fitted.preprocessor_
    typical = np.array([[pre.means_[name] for name in FEATURES]])
    assert fitted.explain(typical) == [[(name, 0.0) for name in FEATURES]]
    off = typical.copy()
    off[0, 0] += 7.0 * pre.scales_[FEATURES[0]]  # one sensor seven scales off, the rest at their means
    [ranked] = fitted.explain(np.vstack([off, typical]))[:1]
    assert ranked[0][0] == FEATURES[0] and ranked[0][1] > 0
    assert ranked[1:] == [(name, 0.0) for name in FEATURES[1:]]


def test_an_unchanged_reset_is_zero_whatever_the_scorer_does_with_batch_sizes() -> None:
    from dhag.attribution import occlusion_attribution

    def score(m: np.ndarray) -> np.ndarray:  # a scorer whose rounding depends on the batch's size
        return np.abs(m).sum(axis=1, dtype=np.float64) + 1e-9 * len(m)

    slices = [("a", slice(0, 1)), ("b", slice(1, 2)), ("c", slice(2, 4))]
    rows = np.array([[0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
    ranked = occlusion_attribution(score, rows, np.zeros(4), slices)
    assert [dict(r)["b"] for r in ranked] == [0.0, 0.0]  # b is at its baseline in both rows
    assert dict(ranked[0])["c"] == 0.0  # a one-hot group unchanged only when all its columns are
    assert dict(ranked[1])["c"] != 0.0 and dict(ranked[0])["a"] != 0.0


def test_explain_scores_each_row_once_and_each_reset_copy_once(fitted: DHAG, rng, monkeypatch) -> None:
    # Explaining takes one pass of the network over the rows and one over their reset copies: an
    # exact zero for an unchanged reset, and the logits that break ties, cost no extra scoring.
    passes: list[int] = []
    forward = fitted.net_.forward

    def counted(x: torch.Tensor) -> torch.Tensor:
        passes.append(len(x))
        return forward(x)

    monkeypatch.setattr(fitted.net_, "forward", counted)
    fitted.explain(normal(rng, 30))
    # Each pass holds SCORING_ROWS rows (the rows, padded), as every pass does whatever the batch.
    assert 30 * len(FEATURES) <= SCORING_ROWS["cpu"] and passes == [SCORING_ROWS["cpu"]] * 2


def test_equal_score_drops_are_ranked_by_the_logit_drop() -> None:
    from dhag.attribution import occlusion_attribution

    weights = np.array([1.0, -2.0, 50.0, 3.0, 1.0])

    def score(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # a sigmoid saturated at 1.0 on these rows
        logits = 100.0 + m.astype(np.float64) @ weights
        logits[m[:, 4] == 0.0] = np.nan  # resetting e leaves a row the scorer cannot score
        return 1.0 / (1.0 + np.exp(-logits)), logits

    slices = [(name, slice(j, j + 1)) for j, name in enumerate("abcde")]
    # a is at its baseline; resetting b raises the logit by 2, c lowers it by 50, d by 3.
    rows = np.array([[0.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    assert score(rows)[0].tolist() == [1.0]
    ranked = occlusion_attribution(score, rows, np.zeros(5), slices, logit_drops=True)
    assert [(n, c, d) for n, c, d in ranked[0][:4]] == [
        ("c", 0.0, 50.0),
        ("d", 0.0, 3.0),
        ("a", 0.0, 0.0),
        ("b", 0.0, -2.0),
    ]
    assert ranked[0][4][0] == "e" and np.isnan(ranked[0][4][1]) and np.isnan(ranked[0][4][2])
    # The contributions and the shape callers use are unchanged without logit_drops.
    assert occlusion_attribution(score, rows, np.zeros(5), slices, top=2) == [[("c", 0.0), ("d", 0.0)]]
    # Where the score drops differ they decide, whatever the logits say.
    plain = occlusion_attribution(
        lambda m: (m.sum(axis=1), -m.sum(axis=1)), [[1.0, 2.0]], np.zeros(2), slices[:2]
    )
    assert plain == [[("b", 2.0), ("a", 1.0)]]


def test_the_logit_matrix_is_what_the_score_is_the_sigmoid_of(fitted: DHAG, rng) -> None:
    matrix = fitted.transform(np.vstack([normal(rng, 50), gross_outliers(rng, 50)]))
    logits = fitted.logit_matrix(matrix)
    assert logits.dtype == np.float64 and logits.shape == (100,)
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-logits)), fitted.score_matrix(matrix), rtol=1e-12)
    with pytest.raises(InputError, match="Expected a preprocessed matrix with 4 columns"):
        fitted.logit_matrix(matrix[:, :3])
