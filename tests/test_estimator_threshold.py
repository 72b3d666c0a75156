"""The DHAG estimator's threshold: calibrated at the target false-alarm rate or contamination, on the
split of held-out rows asked for, and what it warns of or refuses (the rest of the estimator:
test_estimator.py)."""

from __future__ import annotations

import numpy as np
import pytest
from plant_data import normal

from dhag import DHAG


def test_threshold_gives_about_the_target_false_alarm_rate_on_fresh_normal_data(rng) -> None:
    # 1200 held-out rows calibrate the threshold: the rate's spread is about 0.006 (measured 0.044-0.057
    # over six data seeds).
    model = DHAG(max_epochs=5, batch_size=256, target_far=0.05, validation_fraction=0.4, random_state=0)
    model.fit(normal(rng, 3000))
    far = model.predict(normal(rng, 8000)).mean()
    assert 0.025 <= far <= 0.085, f"false-alarm rate {far:.3f} for a target of 0.05"
    assert model.training_["calibration"]["source"] == "validation"


def test_a_time_ordered_split_calibrates_on_the_latest_rows(rng) -> None:
    # The plant drifts a little late in the history; new readings continue from there. Calibrated on
    # the latest rows, the threshold keeps the target on them; on a random slice it under-calls.
    rows = normal(rng, 3000)
    rows[-600:, 0] += 1.5
    fresh = normal(rng, 6000)
    fresh[:, 0] += 1.5
    common = {"max_epochs": 5, "batch_size": 256, "target_far": 0.05, "validation_fraction": 0.2}
    last = DHAG(validation_split="last", random_state=0, **common).fit(rows)
    shuffled = DHAG(random_state=0, **common).fit(rows)
    assert last.training_["calibration"]["split"] == "last"
    assert shuffled.training_["calibration"]["split"] == "random"
    assert last.threshold_ > shuffled.threshold_
    far_last, far_random = last.predict(fresh).mean(), shuffled.predict(fresh).mean()
    assert far_last < far_random and abs(far_last - 0.05) < abs(far_random - 0.05), (far_last, far_random)


def test_a_blocks_split_calibrates_on_stretches_spread_over_the_rows(rng) -> None:
    from dhag.splits import held_out_blocks

    rows = normal(rng, 2000)
    common = {"max_epochs": 3, "batch_size": 256, "target_far": 0.05, "validation_fraction": 0.1}
    model = DHAG(validation_split="blocks", random_state=0, **common).fit(rows)
    held = held_out_blocks(len(rows), 0.1)
    # Five stretches of 40 rows, one in each tenth of the data, the last one ending the data.
    starts = [i for i in np.flatnonzero(held) if not held[i - 1]]
    assert int(held.sum()) == 200 and starts == [360, 760, 1160, 1560, 1960] and held[-1]
    calibration = model.training_["calibration"]
    assert calibration["split"] == "blocks" and calibration["rows"] == 200
    assert model.training_["n_train"] == 1800
    # The threshold is the target quantile of exactly those rows' scores.
    flagged = model.predict(rows[held]).mean()
    assert 0.05 - 1 / 200 - 1e-9 <= flagged <= 0.05, flagged
    assert DHAG(validation_split="blocks", random_state=0, **common).fit(rows).threshold_ == model.threshold_


def test_contamination_flags_that_share_of_the_training_rows(quick_model, rng) -> None:
    rows = normal(rng, 1000)
    model = quick_model(contamination=0.1).fit(rows)
    assert model.predict(rows).mean() == pytest.approx(0.1, abs=0.01)


def test_a_threshold_calibrated_on_too_few_rows_is_warned_about(rng, caplog) -> None:
    # 100 rows hold out 10 to calibrate on: at target_far 0.01 the threshold is their maximum, and the
    # false-alarm rate it gives measured 1 % to 29 % across seeds. It was silent.
    with caplog.at_level("WARNING", logger="dhag"):
        DHAG(max_epochs=1, random_state=0).fit(normal(rng, 100))
    (said,) = [r.getMessage() for r in caplog.records if "calibrated on" in r.getMessage()]
    assert said.startswith("the threshold was calibrated on 10 held-out normal rows")
    caplog.clear()
    with caplog.at_level("WARNING", logger="dhag"):
        DHAG(max_epochs=1, random_state=0, contamination=0.05).fit(normal(rng, 100))
    assert not [r for r in caplog.records if "calibrated on" in r.getMessage()]


@pytest.mark.parametrize("score", [0.0, 1.0])
def test_threshold_for_refuses_a_threshold_that_flags_nothing(score: float) -> None:
    # fit refused a calibrated threshold of 1.0, 0.0 or NaN, but threshold_for, which a caller uses to
    # recalibrate a fitted model on rows of its own, gave it back as it was.
    from dhag import TrainingError

    scores = np.full(200, score)
    with pytest.raises(TrainingError, match="could ever be flagged|could never be flagged"):
        DHAG().threshold_for(scores)
    assert DHAG(min_threshold=0.5).threshold_for(np.full(200, 0.0)) == 0.5  # raised by the floor


def test_a_threshold_calibrated_on_the_rows_trained_on_says_so(rng, caplog) -> None:
    # With nothing held out the threshold comes from rows the network learned, which score lower than
    # new ones; the warning said "held-out normal rows" of them, or nothing with enough rows.
    with caplog.at_level("WARNING", logger="dhag"):
        model = DHAG(max_epochs=1, random_state=0, validation_fraction=0.0).fit(normal(rng, 2000))
    assert model.training_["n_validation"] == 0
    (said,) = [r.getMessage() for r in caplog.records if "calibrated on" in r.getMessage()]
    assert said.startswith("the threshold was calibrated on the 2000 rows the network trained on")
    assert "held-out" not in said
