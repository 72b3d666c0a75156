"""The retrainer's samples: the reference sample published with every version and carried forward,
and the split that keeps the candidate's training apart from what judges it."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plant_data import fault_cluster, normal
from retrain_data import SETTINGS, _labelled, _readings

from dhag import DHAG
from dhag.params import target_far
from pipeline import registry as reg
from pipeline.errors import ModelUnavailableError
from pipeline.features import INPUT_SENSORS
from pipeline.plantmodel import history_reference
from pipeline.retrain import evaluate, run_cycle, split, train_candidate
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.samples import carry_forward, reference_sample


def _half_range(rng: np.random.Generator, n: int) -> np.ndarray:
    """Normal rows from one part of the operating range only (``flow_a`` above its median)."""
    rows = normal(rng, 3 * n)
    return rows[rows[:, 0] > 0][:n]


def test_the_reference_sample_is_published_with_a_version_and_read_back(fitted: DHAG, tmp_path: Path) -> None:
    root = tmp_path / "registry"
    rows = _readings(normal(np.random.default_rng(10), 50), 100.0)
    reg.publish(root, fitted, "v1", reference=rows[::-1])
    reg.publish(root, fitted, "v2")
    assert reg.load_reference(root, "v1") == rows  # oldest first
    assert reg.load_reference(root, "v2") == []  # a version without a sample
    sample = root / "v1.reference.json.gz"
    # A well-formed sample that is not the one published (here: one reading dropped) trains nothing.
    kept = sample.read_bytes()
    data = json.loads(gzip.decompress(kept))
    data["readings"] = data["readings"][1:]
    sample.write_bytes(gzip.compress(json.dumps(data).encode()))
    with pytest.raises(ModelUnavailableError, match="does not match the digest its model records"):
        reg.load_reference(root, "v1")
    sample.write_bytes(b"not gzip")
    with pytest.raises(ModelUnavailableError, match=r"reference sample.*restore the file from a backup"):
        reg.load_reference(root, "v1")
    sample.unlink()  # deleted, the candidate would learn normal operation from the recent sample only
    with pytest.raises(ModelUnavailableError, match=r"is missing; its model records one\. .*'models promote"):
        reg.load_reference(root, "v1")
    assert [i.version for i in reg.list_models(root)] == ["v1", "v2"]


def test_reference_sample_is_bounded_and_spread_over_assets_and_time() -> None:
    rows = [(a, float(t), {"x": float(t)}) for a in ("p1", "p2", "p3") for t in range(1000)]
    rows += [("p4", 5.0, {"x": 0.0})]
    picked = reference_sample(rows, 301)
    assert len(picked) == 301
    counts = {a: sum(r[0] == a for r in picked) for a in ("p1", "p2", "p3", "p4")}
    assert counts == {"p1": 100, "p2": 100, "p3": 100, "p4": 1}
    times = [r[1] for r in picked if r[0] == "p2"]
    assert times[0] == 0.0 and times[-1] == 999.0 and max(np.diff(times)) <= 11
    # Carried forward: at most half recent, the rest from the parent's sample, still bounded.
    recent = [("p1", 5000.0 + t, {"x": 0.0}) for t in range(400)]
    carried = carry_forward(rows, recent, 200)
    assert len(carried) == 200 and sum(r[1] >= 5000 for r in carried) == 100
    # A small parent sample leaves room for more recent readings.
    assert sum(r[1] >= 5000 for r in carry_forward(rows[:20], recent, 200)) == 180


def test_history_reference_leaves_out_fault_rows() -> None:
    frame = pd.DataFrame(
        [
            {"t": float(t), "asset_id": a, "fault": "seal_leak" if t % 2 else ""}
            for t in range(40)
            for a in "ab"
        ]
    )
    for n, sensor in enumerate(INPUT_SENSORS):
        frame[sensor] = float(n)
    sample = history_reference(frame, 10)
    assert len(sample) == 10 and all(t % 2 == 0 for _, t, _ in sample)
    assert {a for a, _, _ in sample} == {"a", "b"} and set(sample[0][2]) == set(INPUT_SENSORS)


def test_history_reference_picks_as_reference_sample_does_without_a_reading_per_row() -> None:
    # A history of millions of rows built a tuple and a dict of every row first (gigabytes) to keep
    # 20,000 of them; the same rows are picked from the columns.
    rng = np.random.default_rng(5)
    n = 100_000
    frame = pd.DataFrame({"asset_id": rng.choice(["p2", "p10", "p1", "f1"], n, p=[0.7, 0.2, 0.0999, 0.0001])})
    frame["t"] = rng.integers(0, 50_000, n).astype(float)  # unsorted, with repeated times
    for sensor in INPUT_SENSORS:
        frame[sensor] = rng.normal(size=n)
    rows = [
        (a, t, dict(zip(INPUT_SENSORS, v, strict=True)))
        for a, t, v in zip(
            frame["asset_id"], frame["t"], frame[list(INPUT_SENSORS)].to_numpy().tolist(), strict=True
        )
    ]
    tracemalloc.start()
    try:
        sample = history_reference(frame, 2000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sample == reference_sample(rows, 2000)
    assert peak < 20e6, f"{peak / 1e6:.0f} MB for a 2000-reading sample of {n} rows"


def test_the_retrainer_carries_the_parents_reference_sample_forward(fitted: DHAG, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    root = tmp_path / "registry"
    parent_reference = _readings(normal(rng, 1200), 0.0)
    reg.publish(root, fitted, "v0-rejected", make_current=False)  # an earlier run's candidate
    reg.publish(root, fitted, "v1", reference=parent_reference)
    recent = _readings(_half_range(rng, 800), 10_000.0)
    labelled = _labelled(fault_cluster(rng, 30), 1, 10_100.0)
    update = {"reference_sample_size": 1000, "max_far_increase": 1.0, "keep_versions": 1}
    result = run_cycle(root, labelled, recent, SETTINGS.model_copy(update=update))
    report = json.loads(result.report.read_text())
    # The run pruned the registry: the old candidate went; its parent (current or history) stayed.
    assert report["pruned"] == ["v0-rejected"]
    assert {i.version for i in reg.list_models(root)} == {"v1", result.candidate}
    data = report["data"]
    # The parent's sample took part in training, calibration and the gate.
    assert data["reference_train"] + data["reference_holdout"] + data["reference_calibration"] == 1200
    assert min(data["reference_train"], data["reference_holdout"], data["reference_calibration"]) > 100
    assert report["metrics"]["candidate"]["reference_far"] is not None
    assert report["reference_sample"] == {"parent": 1200, "candidate": 1000}
    # ... and is carried forward: the candidate's own sample mixes it with the recent readings.
    carried = reg.load_reference(root, result.candidate)
    assert len(carried) == 1000
    old = {r[1] for r in parent_reference}
    assert sum(r[1] in old for r in carried) == 500 and sum(r[1] >= 10_000 for r in carried) == 500


def test_a_candidate_with_the_carried_sample_is_not_worse_than_its_parent_on_the_parents_data(
    fitted: DHAG,
) -> None:
    rng = np.random.default_rng(12)
    # The parent's normal operation: the whole range; the recent hours: one part of it only.
    reference = _readings(normal(rng, 1500), 0.0)
    recent = _readings(_half_range(rng, 900), 10_000.0)
    labelled = _labelled(fault_cluster(rng, 40), 1, 10_100.0)
    settings = SETTINGS.model_copy(update={"reference_sample_size": 2000})
    data = split(labelled, recent, 0.3, reference=reference)
    with_reference = train_candidate(fitted, data, settings)
    without = train_candidate(fitted, split(labelled, recent, 0.3), settings)
    parent, child, forgetful = evaluate(fitted, data), evaluate(with_reference, data), evaluate(without, data)
    # On held-out blocks of the parent's normal operation neither model trained or calibrated on, the
    # candidate flags no more than its parent (within the gate's tolerance); without the carried
    # sample, the candidate takes the other half of the range for anomalies.
    assert child["reference_far"] <= parent["reference_far"] + settings.max_far_increase, (parent, child)
    assert forgetful["reference_far"] > parent["reference_far"] + 0.05, (parent, forgetful)
    # Calibrated at the target rate on the calibration blocks, whatever the parent flags there (it
    # trained on the carried blocks, so it flags few of them; holding the candidate to that would make
    # every generation stricter than the last).
    X_cal, _ = FeatureMap.of(with_reference).matrix(
        [(a, v) for a, _, v in data.reference_calibration + data.normal_calibration]
    )
    child_rate = float(np.mean(with_reference.decision_function(X_cal) > with_reference.threshold_))
    rate = target_far(with_reference)
    assert rate - 2 / len(X_cal) <= child_rate <= rate + 1e-9
    # And it learned the confirmed fault the parent misses.
    assert child["recall"] >= parent["recall"] and child["recall"] >= 0.9, (parent, child)


def test_retrained_generations_keep_their_operating_point_on_new_normal_data(
    fitted: DHAG, train_rows: np.ndarray
) -> None:
    """Three retrains in a row on a plant that does not change: each generation still flags about the
    target share of new normal readings, neither drifting quieter nor noisier."""
    from pipeline.retrain import judge

    rng = np.random.default_rng(21)
    fresh = normal(rng, 20_000)
    settings = SETTINGS.model_copy(update={"reference_sample_size": 2000})
    model, reference = fitted, _readings(train_rows, 0.0)  # published with the rows it trained on
    rates = []
    for generation in range(1, 4):
        recent = _readings(normal(rng, 1500), 10_000.0 * generation)
        verdict = judge(model, [], recent, settings, reference=reference)
        model, reference = verdict.candidate, verdict.reference
        rates.append(float(np.mean(model.decision_function(fresh) > model.threshold_)))
    target = target_far(fitted)
    assert all(target / 3 <= rate <= target * 3 for rate in rates), (target, rates)
    assert rates[-1] >= rates[0] / 2, rates


def test_no_normal_training_reading_lies_beside_a_held_out_label() -> None:
    # A rejected alert's episode returns to the normal sample; trained on, it would make the
    # candidate's held-out false alarms a test on readings it learned.
    normal_rows = _readings(normal(np.random.default_rng(4), 2000), 0.0) + _readings(
        normal(np.random.default_rng(5), 2000), 0.0, asset="p2"
    )
    labelled = _labelled(normal(np.random.default_rng(6), 10), 0, 1700.0)  # p1 at 1700-1709
    # Blocks of 50 s, every third held out: 1650-1749 are training blocks. Labels a second apart are
    # one fault within the 30 s margin: held out whole, as the newest 3 of them were.
    data = split(labelled, normal_rows, 0.3, block_s=50.0, margin_s=30.0)
    assert [r.ts for r in data.labelled_holdout] == [1700.0 + i for i in range(10)]

    def near(rows: list, asset: str) -> list:
        return [n for n in rows if n[0] == asset and 1670.0 <= n[1] <= 1739.0]

    without = split(labelled, normal_rows, 0.3, block_s=50.0)
    beside = len(near(without.normal_train, "p1"))
    assert near(data.normal_train, "p1") == [] and beside >= 50
    assert len(without.normal_train) - len(data.normal_train) == beside
    assert near(data.normal_train, "p2") == near(without.normal_train, "p2") != []  # other assets stay


def test_no_reading_trains_the_candidate_that_judges_or_calibrates_it_in_either_sample() -> None:
    # The reference carries earlier recent samples forward, cut on a time grid of its own. Before, a
    # reading held out (or calibrating) in one sample trained the candidate from the other, and the
    # margin around held-out labels kept only the recent sample's readings out.
    recent = _readings(normal(np.random.default_rng(7), 1200), 1000.0)
    reference = _readings(normal(np.random.default_rng(8), 3000), 0.0)[:1000] + recent[::2]
    labelled = _labelled(normal(np.random.default_rng(9), 10), 0, 2150.0)  # held out: 2157-2159
    data = split(labelled, recent, 0.3, block_s=50.0, reference=reference, margin_s=30.0)
    judged = {(a, t) for a, t, _ in data.normal_holdout + data.normal_calibration}
    judged |= {(a, t) for a, t, _ in data.reference_holdout + data.reference_calibration}
    trained = {(a, t) for a, t, _ in data.normal_train + data.reference_train}
    assert judged and trained and not judged & trained
    assert not [t for _, t, _ in data.reference_train if 2127.0 <= t <= 2189.0]
    # Another run of the plant on the same clock is other readings, not the same ones held out.
    other_run = _readings(normal(np.random.default_rng(11), 2200), 0.0)  # 1000-2199 on the recent's clock
    data = split([], recent, 0.3, block_s=50.0, reference=other_run)
    assert len(data.reference_train) == len(
        split([], [], 0.3, block_s=50.0, reference=other_run).reference_train
    )


def test_assets_the_recent_sample_retired_leave_the_reference_sample(fitted: DHAG, tmp_path: Path) -> None:
    # A plant that renames assets carried every id it ever had, forever: after a year a third of the
    # reference was assets gone for months.
    rng = np.random.default_rng(13)
    root = tmp_path / "registry"
    parent_reference = _readings(normal(rng, 600), 0.0) + _readings(normal(rng, 600), 0.0, asset="gone-1")
    # p2: live (the last run sampled it), but its partition not read into the store yet.
    parent_reference += _readings(normal(rng, 300), 9_000.0, asset="p2")
    reg.publish(root, fitted, "v1", reference=parent_reference)
    recent = _readings(normal(rng, 800), 10_000.0)
    labelled = _labelled(fault_cluster(rng, 30), 1, 10_100.0)
    settings = SETTINGS.model_copy(update={"reference_sample_size": 1000, "max_far_increase": 1.0})
    # The store holds p1 up to 10,800 s; gone-1's newest reading (in the reference) is at 599 s.
    result = run_cycle(root, labelled, recent, settings, retired=(5_000.0, {"p1": 10_800.0}))
    data = json.loads(result.report.read_text())["data"]
    assert data["reference_train"] + data["reference_holdout"] + data["reference_calibration"] == 900
    assert {r[0] for r in reg.load_reference(root, result.candidate)} == {"p1", "p2"}
    # Without a cutoff (a sample too young to call any asset retired), the reference keeps them.
    other = tmp_path / "other"
    reg.publish(other, fitted, "v1", reference=parent_reference)
    kept = run_cycle(other, labelled, recent, settings)
    assert {r[0] for r in reg.load_reference(other, kept.candidate)} == {"p1", "p2", "gone-1"}


def test_an_asset_is_retired_by_the_stores_own_rule_alerts_or_not() -> None:
    # Judged by the normal sample (which leaves out readings near an open alert), an asset in a long
    # fault looked retired; judged by which assets the store held, so did one whose partition the
    # retrainer had not read yet. Its newest reading, in the store or the reference, decides.
    from pipeline.labelstore import LabelStore

    store = LabelStore(":memory:")
    day = 86_400.0
    store.add_readings(_readings(normal(np.random.default_rng(1), 40), 0.0, asset="gone-1"), keep=10_000)
    store.add_readings(_readings(normal(np.random.default_rng(2), 40), 0.0, asset="p1"), keep=10_000)
    assert store.retired_before(30 * day, now=41 * day) is None  # a minute-long sample retires nothing
    for d in range(1, 40):  # the store goes on receiving (a gap past asset_retire_s restarts its age)
        store.add_readings([("hb", d * day, {"x": 0.0})], keep=10_000, retire_s=30 * day, now=d * day)
    late = [
        (a, t + 40 * day, v) for a, t, v in _readings(normal(np.random.default_rng(3), 40), 0.0, asset="p1")
    ]
    store.add_readings(late, keep=10_000, retire_s=30 * day, now=41 * day)
    # p1 has been in a fault since it came back: none of its recent readings count as normal.
    opened = {
        "alert_id": "al-1",
        "asset_id": "p1",
        "state": "open",
        "opened_at": 40 * day - 600,
        "ts": 40 * day,
    }
    store.add_alert(opened | {"score": 0.9, "threshold": 0.5, "model_version": "v1", "values": {}})
    assert "p1" not in {a for a, t, _ in store.normal_sample(margin_s=300.0) if t > day}
    cutoff, newest = store.retired_before(30 * day, now=41 * day)
    assert cutoff == pytest.approx(10 * day + 39) and set(newest) == {"p1", "hb"}  # gone-1 left it
    # A clock-capped span: one reading dated a year ahead does not make a young sample old.
    young = LabelStore(":memory:")
    young.add_readings([("p1", 0.0, {"x": 1.0}), ("gw", 365 * day, {"x": 1.0})], keep=100)
    assert young.retired_before(30 * day, now=600.0) is None
    assert store.retired_before(None, now=41 * day) is None
