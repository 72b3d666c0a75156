"""A row's score does not depend on the rows it is scored with: the same to the last bit in any batch, so
the training row the threshold was set from is flagged alike however it is batched (scikit-learn's
subset-invariance check)."""

from __future__ import annotations

import numpy as np
import pytest

from dhag import DHAG


@pytest.fixture(scope="module")
def wide() -> tuple[DHAG, np.ndarray]:
    rng = np.random.default_rng(0)
    model = DHAG(max_epochs=1, batch_size=512, contamination=0.1, random_state=0, device="cpu")
    return model.fit(rng.standard_normal((4096, 121))), rng.standard_normal((20_000, 121))


def test_a_row_scores_the_same_to_the_last_bit_in_any_batch(wide) -> None:
    # Scored in batches of other sizes, rows differed from their scores in one batch by up to 4e-8 (the
    # matrix products' kernels are chosen by the number of rows): 40 of 61,000 rows here.
    model, rows = wide
    whole = model.decision_function(rows)
    start, sizes = (
        0,
        np.random.default_rng(1).permutation(np.repeat([1, 2, 3, 7, 17, 63, 65, 100, 333, 1000], 3)),
    )
    for size in sizes:
        np.testing.assert_array_equal(
            model.decision_function(rows[start : start + size]), whole[start : start + size]
        )
        start += size
    order = np.random.default_rng(2).permutation(len(rows))
    np.testing.assert_array_equal(model.decision_function(rows[order]), whole[order])
    np.testing.assert_array_equal(model.score_matrix(model.transform(rows[4097:])), whole[4097:])


def test_the_training_row_at_the_threshold_is_flagged_alike_alone_and_in_its_fit(wide) -> None:
    model, _ = wide
    rows = np.random.default_rng(0).standard_normal((4096, 121))  # the rows it was fitted on
    at = np.flatnonzero(model.decision_scores_ == model.threshold_)
    assert at.size  # with contamination, the threshold is one of the training rows' scores
    for row in at:
        assert model.decision_function(rows[row : row + 1])[0] == model.threshold_
        assert model.predict(rows[row : row + 1])[0] == model.labels_[row] == 0
    for size in (1, 5, 999):
        np.testing.assert_array_equal(
            np.concatenate([model.predict(rows[s : s + size]) for s in range(0, len(rows), size)]),
            model.labels_,
        )
