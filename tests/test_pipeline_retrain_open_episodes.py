"""An alert episode whose resolution the label store never saw ends where the current model last found
its asset faulty: the readings after it come back to both samples, those of the fault stay out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plant_data import gross_outliers, normal
from retrain_data import _readings
from test_pipeline_retrain_loop import _retrainer

from dhag import DHAG
from pipeline import registry as reg
from pipeline.config import AlertSettings
from pipeline.labels import Label
from pipeline.labelstore import LabelStore, Source
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.openepisodes import ended_at, open_episode_ends
from pipeline.retrain.samples import TrainingData

MARGIN = 300.0
OPENED, FAULT_END = 30_000.0, 32_000.0


def _every_10_s(rows: np.ndarray, t0: float) -> list[tuple[str, float, dict[str, float]]]:
    return [(a, t0 + 10.0 * i, v) for i, (a, _, v) in enumerate(_readings(rows, 0.0))]


def _history(rng: np.random.Generator, *, recovered: bool) -> list[tuple[str, float, dict[str, float]]]:
    """p1 every 10 s from 20,000 s: normal, faulty from OPENED to FAULT_END, then normal again (or
    faulty to the end)."""
    before = _every_10_s(normal(rng, 1000), 20_000.0)
    fault = _every_10_s(gross_outliers(rng, 200), OPENED)
    after = _every_10_s((normal if recovered else gross_outliers)(rng, 1800), FAULT_END)
    return before + fault + after


def _run(fitted: DHAG, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, recovered: bool) -> TrainingData:
    rng = np.random.default_rng(41)
    root = tmp_path / "registry"
    reg.publish(root, fitted, "v1", reference=_history(rng, recovered=recovered))
    store = LabelStore(":memory:")
    store.add_readings(_history(rng, recovered=recovered), keep=10_000)
    opening = {"flow_a": 9.0, "flow_b": 0.0, "flow_total": 9.0, "vibration": 0.0}
    # Its daemon was stopped for longer than alerts.carry_over_s: no event ever resolved it.
    store.add_alert({"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": OPENED, "score": 0.9,
                     "threshold": 0.5, "model_version": "v1", "values": opening})  # fmt: skip
    lab = Label.model_validate({"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 60_000})
    store.add_label(lab, Source("labels", 0, 0))
    seen: dict[str, TrainingData] = {}

    def capture(current: DHAG, data: TrainingData, settings: object, **_: object) -> DHAG:
        seen["data"] = data
        return current

    monkeypatch.setattr("pipeline.retrain.cycle.train_candidate", capture)
    retrainer, _ = _retrainer(root, store, [60_000.0], holdout_block_s=500.0, max_far_increase=1.0)
    assert retrainer.start_run("labels").result(timeout=60) is not None
    return seen["data"]


def _times(rows: list) -> list[float]:
    return sorted(t for _, t, _ in rows)


def test_an_unresolved_episode_ends_where_its_asset_was_last_found_faulty(
    fitted: DHAG, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An episode no event resolved (its daemon stopped past alerts.carry_over_s) reached to +inf: every
    # later reading of its asset left the normal sample and the parent's reference for good, though
    # the pump had long recovered.
    data = _run(fitted, tmp_path, monkeypatch, recovered=True)
    for recent, reference in (
        (data.normal_train + data.normal_holdout + data.normal_calibration, False),
        (data.reference_train + data.reference_holdout + data.reference_calibration, True),
    ):
        times = _times(recent)
        assert [t for t in times if OPENED - MARGIN <= t < FAULT_END] == [], reference  # the fault stays out
        assert [t for t in times if t < OPENED - MARGIN] != []
        # An hour after the fault, every reading is back (the reference's are cut in blocks as well).
        later = [t for t in times if t >= FAULT_END + 3600.0]
        assert later == [FAULT_END + 10.0 * i for i in range(360, 1800)], reference


def test_an_unresolved_episode_whose_asset_is_still_faulty_keeps_its_readings_out(
    fitted: DHAG, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _run(fitted, tmp_path, monkeypatch, recovered=False)
    for rows in (
        data.normal_train + data.normal_holdout + data.normal_calibration,
        data.reference_train + data.reference_holdout + data.reference_calibration,
    ):
        assert [t for t in _times(rows) if t >= OPENED - MARGIN] == []


def test_ended_at_follows_the_daemons_hysteresis() -> None:
    alerts = AlertSettings(open_after=3, window=5, resolve_after=3, resolve_hold_s=0)
    times = np.arange(10.0, 170.0, 10.0)  # 10 .. 160 s
    over = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
    # Three normal readings in a row after 30 s resolve it; a lone reading over later (70 s) is a false
    # alarm, as the daemon would take it: the readings after 30 s return.
    assert ended_at(times, over, alerts, start=0.0) == 30.0
    assert ended_at(times, over, alerts.model_copy(update={"resolve_after": 4}), start=0.0) == 70.0
    assert ended_at(times[:6], over[:6], alerts.model_copy(update={"resolve_after": 4}), start=0.0) is None
    assert ended_at(times[3:6], over[3:6], alerts, start=35.0) == 35.0  # normal from the start
    assert ended_at(times[:0], over[:0], alerts, start=35.0) is None  # nothing sampled since it opened
    # An intermittent fault: its sampled readings scored normal for a while, then three of five were
    # flagged again (the episode may still be open in a running daemon): it lasts to where that
    # stretch resolved, and while it has not, the episode is open.
    again = over.copy()
    again[[8, 10, 11]] = True
    assert ended_at(times, again, alerts, start=0.0) == 120.0
    assert ended_at(times[:13], again[:13], alerts, start=0.0) is None


def test_each_resolution_starts_the_window_afresh_as_the_daemons_does() -> None:
    # Reopened once (t 13, 14) and resolved again: a lone reading over after that second resolution is
    # a false alarm, not a third episode made of the readings that reopened the second.
    alerts = AlertSettings(open_after=2, window=3, resolve_after=2, resolve_hold_s=0)
    times = np.arange(10.0, 20.0)
    over = np.array([1, 0, 0, 1, 1, 0, 0, 1, 0, 0], dtype=bool)
    assert ended_at(times, over, alerts, start=0.0) == 14.0


class _Counted:
    """``fitted``, counting its calls of decision_function."""

    def __init__(self, model: DHAG) -> None:
        self.model, self.calls = model, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.model.decision_function(X)


def test_the_episodes_of_many_assets_never_resolved_are_scored_in_one_call(fitted: DHAG) -> None:
    # Each asset's readings were scored in a call of their own, on the loop thread at every run's start:
    # with 2,000 assets whose newest episode never resolved (their daemon stopped past carry_over_s)
    # over a sample of 20,000 readings, about 35 s of the liveness probe's allowance.
    rng = np.random.default_rng(7)
    store = LabelStore(":memory:")
    rows = np.concatenate([normal(rng, 1200), gross_outliers(rng, 60)])
    rng.shuffle(rows)
    readings = [
        (f"p{i % 60}", 1000.0 + 10.0 * (i // 60), v) for i, (_, _, v) in enumerate(_readings(rows, 0.0))
    ]
    store.add_readings(readings, keep=10_000)
    for n in range(60):
        store.add_alert({"alert_id": f"a{n}", "asset_id": f"p{n}", "state": "open", "opened_at": 1000.0 + n,
                         "score": 0.9, "threshold": 0.5, "model_version": "v1", "values": {}})  # fmt: skip
    alerts = AlertSettings(open_after=2, window=3, resolve_after=3, resolve_hold_s=0)
    expected = {}
    for alert_id, asset, start in store.open_episodes():  # each asset's readings scored on their own
        X, kept = FeatureMap.of(fitted).matrix([(a, v) for a, _, v in store.readings_of(asset, start)])
        times = np.array([t for _, t, _ in store.readings_of(asset, start)])[kept]
        end = ended_at(times, ~(fitted.decision_function(X) <= fitted.threshold_), alerts, start=start)
        if end is not None:
            expected[alert_id] = end
    counted = _Counted(fitted)
    assert open_episode_ends(store, counted, alerts) == expected
    assert 0 < len(expected) < 60 and counted.calls == 1
