"""``time_budget`` bounds the scoring of the rows for the threshold too: training leaves room for what
that scoring is expected to take, so that a fit (and ``dhag train --time-budget``) ends about when its
budget says, where before the scoring came after the whole budget, however long it took (3 members x 4
snapshots scoring 400,000 rows: a budget of 3 s, a fit of 23 s)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dhag import DHAG
from dhag.modules import DHAGNet

SECONDS_PER_ROW = 1e-4  # scoring made slow, the same on a busy machine as on an idle one


@pytest.fixture
def slow_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    DHAG(max_epochs=1, random_state=0).fit(np.zeros((300, 3)))  # torch's first-use imports, outside
    real = DHAGNet.scores_and_logits

    def slow(self, matrix, **kwargs):  # noqa: ANN001, ANN003, ANN202
        time.sleep(len(matrix) * SECONDS_PER_ROW)
        return real(self, matrix, **kwargs)

    monkeypatch.setattr(DHAGNet, "scores_and_logits", slow)


def test_a_fit_leaves_room_in_its_budget_for_scoring_the_rows(slow_scoring) -> None:
    X = np.random.default_rng(0).normal(size=(20_000, 3))
    # 20,000 rows and the probe's 2 x 2,000 held-out ones scored: about 2.4 s of a budget of 4 s.
    scoring = (len(X) + 2 * 2_000) * SECONDS_PER_ROW
    started = time.perf_counter()
    model = DHAG(max_epochs=10_000, batch_size=256, time_budget=4.0, collapse_retry=False, random_state=0)
    model.fit(X)
    seconds = time.perf_counter() - started
    assert model.training_["stopped_by"] == "time_budget"
    # Before: 4 s of training, then the scoring: 6.4 s and more.
    assert seconds < 4.0 + 1.0, seconds
    assert model.training_["train_seconds"] < 4.0 - scoring + 0.5


def test_a_budget_smaller_than_the_scoring_still_trains_and_says_so(slow_scoring, caplog) -> None:
    X = np.random.default_rng(0).normal(size=(20_000, 3))
    with caplog.at_level("WARNING", logger="dhag"):
        model = DHAG(max_epochs=10_000, batch_size=256, time_budget=1.0, collapse_retry=False).fit(X)
    assert model.training_["steps"] >= 1
    said = [r.getMessage() for r in caplog.records if "scoring" in r.getMessage()]
    assert said and "time_budget" in said[0]
