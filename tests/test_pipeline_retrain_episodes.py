"""A confirmed alert's whole episode is no normal operation in the parent's reference sample: the
readings of a long fault, not only those beside its opening reading, leave the run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from plant_data import normal
from retrain_data import _readings
from test_pipeline_retrain_loop import _retrainer

from dhag import DHAG
from pipeline import registry as reg
from pipeline.labels import Label
from pipeline.labelstore import LabelledReading, LabelStore, Source
from pipeline.retrain.samples import TrainingData, away_from_faults

MARGIN = 300.0


def _every_10_s(rows: np.ndarray, t0: float, asset: str = "p1") -> list[tuple[str, float, dict[str, float]]]:
    return [(a, t0 + 10.0 * i, v) for i, (a, _, v) in enumerate(_readings(rows, 0.0, asset))]


def _alert(store: LabelStore, alert_id: str, opened: float, values: dict, resolved: float | None) -> None:
    event = {"alert_id": alert_id, "asset_id": "p1", "state": "open", "opened_at": opened, "score": 0.9,
             "threshold": 0.5, "model_version": "v1", "values": values}  # fmt: skip
    store.add_alert(event)
    if resolved is not None:
        store.add_alert(event | {"state": "resolved", "ts": resolved})


def _label(store: LabelStore, alert_id: str, label: str, offset: int) -> None:
    lab = Label.model_validate({"alert_id": alert_id, "label": label, "operator": "kim", "ts": 50_000})
    store.add_label(lab, Source("labels", 0, offset))


def test_a_confirmed_alerts_whole_episode_leaves_the_parents_reference(
    fitted: DHAG, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the opening reading of a labelled alert reached the run: a reference reading of the same
    # fault 600 s after the alert opened (the margin is 300 s) trained the candidate as normal
    # operation, judged it as a normal reading it flagged, and was carried forward for good.
    rng = np.random.default_rng(31)
    reference = _every_10_s(normal(rng, 900), 0.0)  # 0 .. 8990 s
    root = tmp_path / "registry"
    reg.publish(root, fitted, "v1", reference=reference)
    store, clock = LabelStore(":memory:"), [50_000.0]
    store.add_readings(_every_10_s(normal(rng, 600), 20_000.0), keep=10_000)
    fault, false_alarm = _readings(normal(rng, 2), 0.0)
    _alert(store, "a1", 3000.0, fault[2], resolved=4200.0)  # a 20-minute fault
    _alert(store, "a2", 6000.0, false_alarm[2], resolved=7000.0)
    _label(store, "a1", "anomaly", 0)
    _label(store, "a2", "normal", 1)
    seen: dict[str, TrainingData] = {}

    def capture(current: DHAG, data: TrainingData, settings: object, **_: object) -> DHAG:
        seen["data"] = data
        return current

    monkeypatch.setattr("pipeline.retrain.cycle.train_candidate", capture)
    retrainer, _ = _retrainer(root, store, clock, holdout_block_s=500.0, max_far_increase=1.0)
    result = retrainer.start_run("labels").result(timeout=60)
    assert result is not None
    data = seen["data"]
    parts = data.reference_train + data.reference_holdout + data.reference_calibration
    in_fault = [t for _, t, _ in parts if 3000.0 - MARGIN <= t <= 4200.0 + MARGIN]
    assert in_fault == []
    assert 3600.0 not in {t for _, t, _ in data.reference_train}  # opened_at + 600 s
    # The rejected alert's episode was normal operation: it stays.
    assert sum(6000.0 <= t <= 7000.0 for _, t, _ in parts) == 101
    assert len(parts) == 900 - 181  # 2700 .. 4500 s, every 10 s
    carried = reg.load_reference(root, result.candidate)
    assert not [t for _, t, _ in carried if 3000.0 - MARGIN <= t <= 4200.0 + MARGIN]


def _confirmed(asset: str, ts: float, alert_id: str | None, label_id: int) -> LabelledReading:
    key = f"alert:{alert_id}" if alert_id else f"reading:{asset}@{ts!r}"
    return LabelledReading(key, alert_id, asset, ts, {}, 1, "kim", ts, label_id)


def test_away_from_faults_keeps_the_episode_window_and_the_margin_around_a_reading() -> None:
    rows = [(a, float(t), {}) for a in ("p1", "p2") for t in range(0, 200, 10)]
    labelled = [
        _confirmed("p1", 50.0, "a1", 1),  # its episode: 40 .. 120 s
        _confirmed("p2", 50.0, "gone", 2),  # an alert the store forgot: its reading only
        _confirmed("p2", 150.0, None, 3),  # a fault confirmed by its reading
    ]
    episodes = {"a1": (40.0, 120.0), "other": (0.0, math.inf)}
    kept = away_from_faults(rows, labelled, 5.0, episodes=episodes)
    assert [t for a, t, _ in kept if a == "p1"] == [0.0, 10.0, 20.0, 30.0, 130.0, 140.0, 150.0, 160.0,
                                                    170.0, 180.0, 190.0]  # fmt: skip
    assert [t for a, t, _ in kept if a == "p2"] == [t for t in range(0, 200, 10) if t not in (50, 150)]
    # Without windows, as before: the margin around each confirmed reading.
    assert len(away_from_faults(rows, labelled, 5.0)) == len(rows) - 3
