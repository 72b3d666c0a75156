"""A plant model's per-asset references over months: the ids of retired assets leave them, as they
leave the normal and reference samples, and an asset that comes back is a new one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dhag import DHAG
from pipeline import registry as reg
from pipeline.config import RecordSettings, RetrainSettings
from pipeline.features import INPUT_SENSORS, PlantFeatures
from pipeline.hotswap import bind_model
from pipeline.labelstore import LabelledReading
from pipeline.plantmodel import history_reference
from pipeline.retrain import TrainingData, judge, run_cycle, train_candidate
from pipeline.simulator import Fleet

DAY = 86_400.0
SETTINGS = RetrainSettings(device="cpu", max_epochs=2, time_budget_s=30, min_normal_rows=100, seed=0)


def _readings(
    frame: pd.DataFrame, t0: float, scale: float = 1.0
) -> list[tuple[str, float, dict[str, float]]]:
    values = frame[list(INPUT_SENSORS)].to_numpy(float).tolist()
    return [
        (
            str(a),
            t0 + float(t),
            {s: x * (scale if s == "flow_m3h" else 1.0) for s, x in zip(INPUT_SENSORS, v, strict=True)},
        )
        for a, t, v in zip(frame["asset_id"], frame["t"], values, strict=True)
    ]


def test_a_retired_assets_reference_leaves_the_model_and_comes_back_new(
    history: pd.DataFrame, plant_model: DHAG, tmp_path: Path
) -> None:
    # Every asset id the plant ever had kept its reference in every later model: a plant that renames
    # assets carried them all, and one that came back was scaled by what it was years before.
    parent = PlantFeatures.from_model(plant_model)
    assert parent is not None and set(parent.references) == {"pump-01", "fan-01", "compressor-01"}
    recent = Fleet(3, seed=11, run=1).run(2 * 3600, 10.0)
    live = _readings(recent[recent["asset_id"] != "compressor-01"], 40 * DAY)
    newest = {"pump-01": 40 * DAY + 7200, "fan-01": 40 * DAY + 7200}
    reference = history_reference(history, 2000)  # the parent's, 40 days old: compressor-01 is in it
    verdict = judge(plant_model, [], live, SETTINGS, reference=reference, retired=(10 * DAY, newest))
    spec = PlantFeatures.from_model(verdict.candidate)
    assert spec is not None
    assert set(spec.references) == {"pump-01", "fan-01"} and set(spec.ranges) <= {"pump-01", "fan-01"}
    assert spec.references["pump-01"] == parent.references["pump-01"]  # a live asset keeps its own
    # Through the registry: the artifact holds what the candidate held, and the daemon serves it.
    root = tmp_path / "registry"
    reg.publish(root, verdict.candidate, "v2", reference=verdict.reference)
    loaded = reg.load_version(root, "v2")
    assert PlantFeatures.from_model(loaded).references == spec.references
    active = bind_model(loaded, "v2", RecordSettings())
    low, high = active.training_ranges(["compressor-01", "somewhere-else"])
    np.testing.assert_array_equal(low[0], low[1])  # held to the fleet's range, like any new asset
    np.testing.assert_array_equal(high[0], high[1])
    # Back, rebuilt with other flow: the next run gives it a reference from its own recent readings.
    back = _readings(recent, 41 * DAY, scale=3.0)
    again = judge(loaded, [], back, SETTINGS, reference=verdict.reference)
    renewed = PlantFeatures.from_model(again.candidate)
    assert renewed is not None
    rows = [v for a, _, v in again.data.normal_train if a == "compressor-01"]
    frame = pd.DataFrame(rows, columns=list(INPUT_SENSORS)).assign(asset_id="compressor-01")
    assert renewed.references["compressor-01"] == PlantFeatures.fit(frame).references["compressor-01"]
    assert renewed.references["compressor-01"][1] > 2 * parent.references["compressor-01"][1]


def test_without_drops_references_and_ranges_but_never_the_last_reference(plant_model: DHAG) -> None:
    spec = PlantFeatures.from_model(plant_model)
    assert spec is not None
    kept = spec.without({"fan-01", "nowhere"})
    assert set(kept.references) == set(kept.ranges) == {"pump-01", "compressor-01"}
    assert kept.input_means == spec.input_means and set(spec.references) == {
        "pump-01",
        "fan-01",
        "compressor-01",
    }
    assert PlantFeatures.from_metadata(kept.to_metadata()).references == kept.references
    assert spec.without(set(spec.references)) is spec  # a model needs at least one asset's reference


def _label(asset: str, ts: float, values: dict[str, float], y: int, n: int) -> LabelledReading:
    return LabelledReading(f"alert:a{n}", f"a{n}", asset, ts, values, y, "kim", ts + 60.0, n)


def test_labels_of_an_asset_without_a_reference_neither_train_nor_judge(
    history: pd.DataFrame, plant_model: DHAG, tmp_path: Path
) -> None:
    # Labels stay for good, and a retired asset's reference leaves the model: its old rejected alerts
    # trained as normal operation, rejected_weight copies each, scaled by the fleet's median reference
    # (a fan's readings read as a compressor's), and its confirmed ones as anomalies, scaled alike.
    recent = Fleet(3, seed=11, run=1).run(2 * 3600, 10.0)
    live = _readings(recent[recent["asset_id"] != "compressor-01"], 40 * DAY)
    old = _readings(history[history["asset_id"] == "compressor-01"], 0.0)
    labelled = [_label("compressor-01", t, v, k % 2, k) for k, (_, t, v) in enumerate(old[:40:4])]
    fleet = [r for r in live if r[0] == "pump-01"][:300:60] + [r for r in live if r[0] == "fan-01"][:300:60]
    labelled += [_label(a, t, v, 0, 100 + k) for k, (a, t, v) in enumerate(fleet)]
    root = tmp_path / "registry"
    reg.publish(root, plant_model, "v1", reference=history_reference(history, 2000))
    newest = {"pump-01": 40 * DAY + 7200, "fan-01": 40 * DAY + 7200}
    first = run_cycle(root, labelled, live, SETTINGS, retired=(10 * DAY, newest))
    assert first.content["references_dropped"] == ["compressor-01"]
    assert first.content["labels_without_reference"] == 0  # v1 still holds its reference
    reg.promote(root, first.candidate)
    seen = []

    def train(current: DHAG, data: TrainingData, settings: RetrainSettings) -> DHAG:
        seen.append(data)
        return train_candidate(current, data, settings)

    second = judge(reg.load_version(root, first.candidate), labelled, live, SETTINGS, train=train)
    [data] = seen
    assert {r.asset_id for r in data.labelled_train + data.labelled_holdout} == {"pump-01", "fan-01"}
    assert second.unreferenced == 10
