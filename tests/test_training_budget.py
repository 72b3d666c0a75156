"""``time_budget`` ends training on time, also within an epoch of a large table."""

from __future__ import annotations

import numpy as np

from dhag import DHAG


def test_a_time_budget_shorter_than_one_epoch_ends_training_within_that_epoch() -> None:
    # Before: the budget was checked only at the end of an epoch, so an epoch of a large history ran
    # to its end whatever the budget (a budget of 0.5 s trained for 36 s on 100,000 rows here).
    X = np.random.default_rng(0).normal(size=(40_000, 8))
    model = DHAG(
        max_epochs=3, max_steps=None, batch_size=16, time_budget=0.3, collapse_retry=False, random_state=0
    ).fit(X)
    record = model.training_
    one_epoch = record["n_train"] // 16
    assert record["stopped_by"] == "time_budget"
    assert record["epochs_run"] == 1 and record["steps"] < one_epoch
    assert record["train_seconds"] < 0.3 + 2.0  # the budget and one update, with room for a busy machine
    assert np.isfinite(model.decision_function(X[:5])).all()


def test_without_a_budget_every_planned_step_runs() -> None:
    X = np.random.default_rng(1).normal(size=(2_000, 4))
    model = DHAG(max_epochs=2, max_steps=None, batch_size=100, collapse_retry=False, random_state=0).fit(X)
    assert model.training_["stopped_by"] != "time_budget"
    assert model.training_["steps"] == 2 * (model.training_["n_train"] // 100)
