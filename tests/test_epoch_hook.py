"""DHAG.fit's ``on_epoch`` hook: every epoch of every attempt, scored as the network stands then,
without changing what is trained."""

from __future__ import annotations

import numpy as np
from plant_data import FEATURES, normal

from dhag import DHAG


def test_the_hook_sees_every_epoch_and_scores_like_the_model_it_ends_as(train_rows: np.ndarray) -> None:
    rows = normal(np.random.default_rng(7), 50)
    params = {"max_epochs": 4, "batch_size": 128, "feature_names": FEATURES, "random_state": 3}
    seen: list[tuple[dict[str, float], np.ndarray]] = []
    hooked = DHAG(**params).fit(train_rows, on_epoch=lambda record, score: seen.append((record, score(rows))))
    assert [(r["attempt"], r["epoch"]) for r, _ in seen] == [(1.0, e) for e in (1.0, 2.0, 3.0, 4.0)]
    assert [r["ce"] for r, _ in seen] == [h["ce"] for h in hooked.training_["history"]]
    # The last snapshot is the model kept; earlier ones differ from it; the hook changed nothing.
    np.testing.assert_array_equal(seen[-1][1], hooked.decision_function(rows))
    assert not np.array_equal(seen[0][1], seen[-1][1])
    plain = DHAG(**params).fit(train_rows)
    np.testing.assert_array_equal(plain.decision_function(rows), hooked.decision_function(rows))
    # A fit for fewer epochs is the snapshot after that many.
    short = DHAG(**{**params, "max_epochs": 2}).fit(train_rows)
    np.testing.assert_array_equal(short.decision_function(rows), seen[1][1])


def test_the_hook_follows_a_retry_into_its_second_attempt(train_rows: np.ndarray) -> None:
    # The tiny learning rate of the retry test in test_training_rules: the first training collapses.
    params = {"max_epochs": 3, "batch_size": 128, "lr": 1e-7, "random_state": 0}
    seen: list[tuple[float, float]] = []
    model = DHAG(**params).fit(
        train_rows, on_epoch=lambda record, _score: seen.append((record["attempt"], record["epoch"]))
    )
    assert len(model.training_["attempts"]) == 2
    assert seen == [(1.0, 1.0), (1.0, 2.0), (1.0, 3.0), (2.0, 1.0), (2.0, 2.0), (2.0, 3.0)]
