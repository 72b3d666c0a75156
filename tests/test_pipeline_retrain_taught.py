"""A rejected alert that trains the candidate leaves its neighbours out of what judges and calibrates it,
never more than half of an asset's held-out readings."""

from __future__ import annotations

from pipeline.labelstore import LabelledReading
from pipeline.retrain.samples import split

MARGIN = 300.0


def _rejected(asset: str, ts: float, label_id: int) -> LabelledReading:
    values = {"x": 1.0}
    return LabelledReading(f"alert:{label_id}", str(label_id), asset, ts, values, 0, "kim", ts, label_id)


def _sample(asset: str) -> list[tuple[str, float, dict[str, float]]]:
    return [(asset, float(t), {"x": 0.0}) for t in range(0, 24_000, 10)]


def _judging(data, asset: str) -> tuple[list[float], list[float]]:
    return (
        [t for a, t, _ in data.normal_holdout if a == asset],
        [t for a, t, _ in data.normal_calibration if a == asset],
    )


def test_a_training_rejected_alerts_neighbours_judge_no_candidate() -> None:
    # The rejected alert at 9,000 s trained the candidate rejected_weight times while the readings of
    # its episode, a few seconds from it, sat in a held-out block and judged the candidate's false
    # alarms as unseen normal operation: it looked better than its parent, which never learned them.
    labels = [_rejected("p1", 9000.0, 1), _rejected("p1", 23_500.0, 2)]
    data = split(labels, _sample("p1"), 0.5, margin_s=MARGIN)
    assert [r.ts for r in data.labelled_train] == [9000.0]
    holdout, calibration = _judging(data, "p1")
    assert [t for t in holdout + calibration if abs(t - 9000.0) <= MARGIN] == []
    before = _judging(split([], _sample("p1"), 0.5, margin_s=MARGIN), "p1")
    assert len(holdout) + len(calibration) == len(before[0]) + len(before[1]) - 61


def test_a_noisy_asset_keeps_half_of_its_held_out_readings() -> None:
    # Rejected alerts every 200 s cover the whole of p2's sample: without a bound, no held-out reading
    # of p2 would be left to judge a candidate's false alarms on.
    labels = [_rejected("p2", float(t), i) for i, t in enumerate(range(0, 24_000, 200), start=10)]
    labels += [_rejected("p1", 9000.0, 1), _rejected("p1", 23_990.0, 2)]
    data = split(labels, _sample("p1") + _sample("p2"), 0.3, margin_s=MARGIN)
    assert {r.asset_id for r in data.labelled_train} == {"p1", "p2"}
    before = _judging(split([], _sample("p2"), 0.3, margin_s=MARGIN), "p2")
    holdout, calibration = _judging(data, "p2")
    assert (len(holdout), len(calibration)) == (
        len(before[0]) - len(before[0]) // 2,
        len(before[1]) - len(before[1]) // 2,
    )
    # Those nearest a label left first: every one within 40 s of one is gone.
    assert [t for t in holdout + calibration if min(abs(t - s) for s in range(0, 24_000, 200)) <= 40] == []
