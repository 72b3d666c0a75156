"""Labels of one fault fall on one side of the holdout cut: a reading the candidate trains on never
judges it again as a near-identical held-out label of its asset."""

from __future__ import annotations

import numpy as np
from plant_data import normal
from retrain_data import _readings

from pipeline.labelstore import LabelledReading
from pipeline.retrain.samples import TrainingData, split

MARGIN = 300.0


def _label(asset: str, ts: float, label_id: int, *, alert: bool = True, y: int = 1) -> LabelledReading:
    key = f"alert:a{label_id}" if alert else f"reading:{asset}@{ts!r}"
    values = {"x": float(label_id)}
    return LabelledReading(key, f"a{label_id}" if alert else None, asset, ts, values, y, "kim", ts, label_id)


def _straddling(data: TrainingData) -> list[tuple[str, float]]:
    return [
        (h.asset_id, h.ts)
        for h in data.labelled_holdout
        for t in data.labelled_train
        if t.asset_id == h.asset_id and abs(t.ts - h.ts) <= MARGIN
    ]


def test_two_labels_of_one_fault_a_second_apart_fall_on_one_side_of_the_cut() -> None:
    # The same fault labelled once by its alert and once by its reading, a second later: the cut at
    # the newest 30 % put one in training and the other in the holdout, so the candidate was judged
    # on a reading it had just learned, and its held-out recall said more than it knew.
    labelled = [_label("p2", 1000.0 * i, i) for i in range(6)]
    labelled += [_label("p1", 6000.0, 6), _label("p1", 6001.0, 7, alert=False)]
    labelled += [_label("p3", 7000.0, 8), _label("p3", 8000.0, 9, y=0)]
    data = split(labelled, [], 0.3, margin_s=MARGIN)
    assert _straddling(data) == []
    assert {r.label_id for r in data.labelled_train} == {0, 1, 2, 3, 4, 5, 6, 7}
    assert [r.label_id for r in data.labelled_holdout] == [8, 9]
    assert len(data.labelled_train) + len(data.labelled_holdout) == len(labelled)
    # Without a margin, only labels of one reading's time are one fault.
    loose = split(labelled, [], 0.3)
    assert [r.label_id for r in loose.labelled_holdout] == [7, 8, 9]


def test_a_chain_of_labels_each_within_the_margin_of_the_next_is_one_fault() -> None:
    # The cut falls between 600 s and 800 s: 1000 s is no neighbour of a training label, but it is
    # the same fault as 800 s, which is.
    labelled = [_label("p1", 200.0 * i, i) for i in range(6)] + [_label("p2", 500.0, 9)]
    labelled += [_label("p1", 5000.0 + i, 10 + i) for i in range(3)]
    data = split(labelled, [], 0.5, margin_s=MARGIN)
    assert _straddling(data) == []
    assert [r.label_id for r in data.labelled_holdout] == [10, 11, 12]


def test_the_holdout_keeps_the_newest_fault_when_every_label_is_one_fault() -> None:
    # All labels are one fault: moving it to training would leave the gate no label to judge on.
    labelled = [_label("p1", float(t), t + 1) for t in range(4)]
    data = split(labelled, [], 0.3, margin_s=MARGIN)
    assert data.labelled_train == [] and len(data.labelled_holdout) == 4
    assert _straddling(data) == []
    # Two faults, the cut within the newer: the older trains, the newer is held out whole.
    labelled += [_label("p1", 1000.0 + t, 10 + t) for t in range(3)]
    data = split(labelled, [], 0.3, margin_s=MARGIN)
    assert [r.label_id for r in data.labelled_holdout] == [10, 11, 12] and len(data.labelled_train) == 4


def test_normal_training_rows_stay_away_from_the_labels_the_cut_holds_out() -> None:
    recent = _readings(normal(np.random.default_rng(3), 900), 0.0)
    labelled = [_label("p1", 100.0, 1), _label("p1", 101.0, 2, alert=False), _label("p1", 600.0, 3)]
    data = split(labelled, recent, 0.5, block_s=50.0, margin_s=30.0)
    held = [r.ts for r in data.labelled_holdout]
    assert held == [600.0]
    assert not [r for r in data.normal_train if any(abs(r[1] - t) <= 30.0 for t in held)]
    # The readings beside the labels that train are no held-out label's neighbours: they train.
    assert any(abs(r[1] - 100.0) <= 30.0 for r in data.normal_train)
