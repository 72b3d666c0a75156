"""contamination=r flags the share r of the rows its threshold is taken of, as PyOD's threshold does
(the rows above its 1 - r percentile): on few rows too."""

from __future__ import annotations

import numpy as np
import pytest

from dhag import DHAG


@pytest.mark.parametrize(
    ("n", "share", "flagged"), [(10, 0.1, 1), (20, 0.05, 1), (200, 0.1, 20), (200, 0.5, 100)]
)
def test_threshold_for_flags_the_share_of_the_scores_pyod_flags(n: int, share: float, flagged: int) -> None:
    # The threshold was the next score above the quantile, so one row fewer was flagged than the
    # share: none of 10 rows at contamination=0.1, 19 of 200 at 0.1.
    scores = np.random.default_rng(n).uniform(0.2, 0.8, n)
    threshold = DHAG(contamination=share).threshold_for(scores)
    assert int(np.sum(scores > threshold)) == flagged
    assert threshold in scores  # a score that occurs in them, as before
    pyod = np.percentile(scores, 100 * (1 - share))  # PyOD's threshold_
    assert int(np.sum(scores > pyod)) == flagged


def test_fit_on_ten_rows_with_contamination_a_tenth_labels_one(quick_model) -> None:
    rows = np.random.default_rng(0).normal(size=(10, 3))
    model = quick_model(contamination=0.1).fit(rows)
    assert model.labels_.sum() == 1 and model.predict(rows).sum() == 1
