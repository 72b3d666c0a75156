"""target_far and contamination: each sets the threshold, so a model takes one of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dhag import DHAG, ParameterError, load_model, read_manifest


def _rows() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(300, 3))


@pytest.mark.parametrize("target_far", [0.02, 0.01])
def test_target_far_beside_contamination_is_refused_naming_both(quick_model, target_far: float) -> None:
    # Before, fit took the threshold from contamination and dropped target_far in silence, where
    # dhag train refuses --target-far with --contamination.
    model = quick_model(contamination=0.05, target_far=target_far)
    with pytest.raises(
        ParameterError, match=r"'target_far' and 'contamination'.*each set the threshold"
    ) as exc:
        model.fit(_rows())
    assert f"target_far={target_far!r} and contamination=0.05" in str(exc.value)
    assert not hasattr(model, "threshold_")


def test_target_far_left_unset_is_none_meaning_one_percent(quick_model) -> None:
    assert DHAG().get_params()["target_far"] is None and repr(DHAG(contamination=0.05)) == (
        "DHAG(contamination=0.05)"
    )
    assert repr(DHAG(target_far=0.01)) == "DHAG(target_far=0.01)"
    scores = np.linspace(0.2, 0.3, 1001)
    assert DHAG().threshold_for(scores) == DHAG(target_far=0.01).threshold_for(scores)
    rows = _rows()
    unset, given = quick_model().fit(rows), quick_model(target_far=0.01).fit(rows)
    assert unset.threshold_ == given.threshold_
    # Either one set alone, the other at its default, fits; so does switching from one to the other.
    assert quick_model(contamination=0.05).fit(rows).threshold_ > 0
    switched = quick_model(target_far=0.02).set_params(contamination=0.05)
    with pytest.raises(ParameterError, match="'target_far' and 'contamination'"):
        switched.fit(rows)
    assert switched.set_params(target_far=None).fit(rows).threshold_ > 0


def test_a_model_whose_threshold_came_from_contamination_loads_and_retrains(
    quick_model, tmp_path: Path
) -> None:
    # The manifest holds target_far as a number (earlier releases refuse None there, and read no
    # default into it): 0.01 for one left unset, read back as unset, so a model trained with
    # contamination (dhag train --contamination writes 0.01 beside it) is refit with its settings.
    model = quick_model(contamination=0.05).fit(_rows())
    path = model.save(tmp_path / "m.dhag")
    assert read_manifest(path)["settings"]["target_far"] == 0.01
    loaded = load_model(path)
    assert loaded.target_far is None and loaded.get_params() == model.get_params()
    assert DHAG(**loaded.get_params()).fit(_rows()).threshold_ == model.threshold_
    given = quick_model(target_far=0.02).fit(_rows())
    assert load_model(given.save(tmp_path / "g.dhag")).target_far == 0.02


def test_threshold_for_a_model_given_contamination_flags_that_share_of_the_scores(quick_model) -> None:
    # threshold_for took the 1 - target_far quantile whatever the model was given, so a model fitted
    # to flag 10 % of its rows, recalibrated on new normal rows (as the retrainer does), flagged 1 %.
    scores = np.linspace(0.2, 0.3, 1001)
    threshold = DHAG(contamination=0.1).threshold_for(scores)
    assert threshold == pytest.approx(0.29) and int(np.sum(scores > threshold)) == 100  # of 1001
    assert DHAG(contamination=0.1, min_threshold=0.5).threshold_for(scores) == 0.5
    # As fit puts it on the training scores: the same quantile of the same rows.
    rows = _rows()
    model = quick_model(contamination=0.1).fit(rows)
    assert model.threshold_for(model.decision_function(rows)) == model.threshold_
    assert DHAG(target_far=0.1).threshold_for(scores) == threshold  # a false-alarm rate of the same share
