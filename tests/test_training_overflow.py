"""A training whose kept network overflows float32 on the normal rows it trained on: every weight
finite, yet those rows score NaN, and no threshold can be placed among NaN scores."""

from __future__ import annotations

import numpy as np
import pytest
from plant_data import normal

from dhag import NotFittedError, TrainingError


def test_a_kept_network_that_scores_the_normal_rows_nan_is_refused_as_diverged(quick_model, rng) -> None:
    # A learning rate of 1e7 blows the weights up in the first epoch; early stopping kept that epoch,
    # whose weights are still finite but overflow on every row. fit kept it with a NaN threshold (a
    # warning said so), and decision_function then refused the very rows it trained on as "too large
    # for the model to score".
    model = quick_model(lr=1e7, discriminator_lr=1e7, early_stopping=True, max_epochs=3, batch_size=256)
    with pytest.raises(TrainingError, match=r"diverged: the network kept scores \d+ of the \d+ normal"):
        model.fit(normal(rng, 300))
    with pytest.raises(NotFittedError):
        model.decision_function(normal(rng, 5))


def test_a_refit_that_diverges_keeps_the_model_fitted_before(quick_model, rng) -> None:
    rows = normal(rng, 300)
    model = quick_model().fit(rows)
    scores, threshold = model.decision_function(rows[:20]), model.threshold_
    with pytest.raises(TrainingError, match="diverged"):
        model.set_params(lr=1e7, discriminator_lr=1e7, early_stopping=True, batch_size=256).fit(rows)
    np.testing.assert_array_equal(model.decision_function(rows[:20]), scores)
    assert model.threshold_ == threshold
