"""The label store over months: label keys that survive a recreated topic and the upgrade that
brought them, and assets that leave the normal sample when they stop sending."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest
from test_pipeline_labels import _alert

from pipeline.labels import Source, parse_label
from pipeline.labelstore import LabelStore


def test_an_asset_that_stopped_sending_leaves_the_sample_and_live_ones_keep_their_oldest_reading() -> None:
    # Before, thinning kept every asset's oldest reading for ever: ids of machines taken out of
    # service piled up in the sample and trained every later model.
    day = 86_400.0
    store = LabelStore(":memory:")
    for d in range(120):  # one machine replaced every day, two that run throughout
        rows = [(a, d * day + h * 3600.0, {"x": 0.0}) for h in range(24) for a in ("p1", "p2", f"old-{d}")]
        store.add_readings(rows, keep=600, retire_s=30 * day)
    assets = {a for a, _, _ in store.normal_sample(margin_s=0.0)}
    retired = {a for a in assets if a.startswith("old-")}
    assert {"p1", "p2", "old-119"} <= assets
    assert min(int(a[4:]) for a in retired) >= 89  # none silent for over 30 days
    assert min(t for a, t, _ in store.normal_sample(margin_s=0.0) if a == "p1") == 0.0


def test_labels_of_a_recreated_labels_topic_are_not_taken_for_replays() -> None:
    # A labels topic recreated, or a move to another Kafka cluster, starts its offsets at 0 again.
    # Before, every new label at an offset the old topic had used was dropped as a replay, silently.
    store = LabelStore(":memory:")
    store.add_alert(_alert("a1", "p1", 100.0))
    store.add_alert(_alert("a2", "p1", 300.0))
    old = b'{"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 150}'
    new = b'{"alert_id": "a2", "label": "normal", "operator": "lee", "ts": 350}'
    assert store.add_label(parse_label(old), Source.of("labels", 0, 0, old))
    assert not store.add_label(parse_label(old), Source.of("labels", 0, 0, old))  # a replay
    assert store.add_label(parse_label(new), Source.of("labels", 0, 0, new))  # the new topic's first
    assert [(r.alert_id, r.y) for r in store.latest_labels()] == [("a1", 1), ("a2", 0)]
    store.add_pending("a9", old, Source.of("labels", 0, 5, old), first_seen=10.0)
    store.add_pending("a9", new, Source.of("labels", 0, 5, new), first_seen=11.0)
    assert [Source.parse(p.source).digest for p in store.pending()] == [
        Source.of("", 0, 0, old).digest,
        Source.of("", 0, 0, new).digest,
    ]


def test_a_label_or_pending_label_stored_before_keys_had_a_digest_is_not_stored_again(tmp_path) -> None:
    # A replay across the upgrade (the last uncommitted poll, a partition read again) brings the same
    # record under its new key; a store written before holds it under the plain position.
    store = LabelStore(str(tmp_path / "labels.sqlite"))
    store.add_alert(_alert("a1", "p1", 100.0))
    raw = b'{"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 150}'
    assert store.add_label(parse_label(raw), Source("labels", 0, 7))  # as the former version keyed it
    assert not store.add_label(parse_label(raw), Source.of("labels", 0, 7, raw))
    assert store.label_count() == 1
    store.add_pending("a9", raw, Source("labels", 0, 8), first_seen=1.0)
    store.add_pending("a9", raw, Source.of("labels", 0, 8, raw), first_seen=2.0)
    assert store.pending_count() == 1


def test_one_device_clock_far_ahead_does_not_retire_the_rest_of_the_fleet() -> None:
    day, now = 86_400.0, 1_780_000_000.0
    store = LabelStore(":memory:")
    fleet = [(f"p{i % 50}", now - 3600 + i, {"x": 0.0}) for i in range(2000)]
    store.add_readings(fleet, keep=20_000, retire_s=30 * day, now=now)
    store.add_readings([("bad-clock", now + 365 * day, {"x": 0.0})], keep=20_000, retire_s=30 * day, now=now)
    store.add_readings([("p1", now + 10, {"x": 0.0})], keep=20_000, retire_s=30 * day, now=now + 10)
    assert len({a for a, _, _ in store.normal_sample(margin_s=0.0)}) == 51


@pytest.mark.parametrize("seed", range(8))
def test_forgetting_old_alerts_leaves_the_normal_sample_as_it_was(seed: int) -> None:
    # Every alert episode stayed in the store for ever, and every retraining run read them all.
    rng = np.random.default_rng(seed)
    store = LabelStore(":memory:")
    readings = [(f"p{a}", float(t), {"x": float(t)}) for a in range(3) for t in range(0, 4000, 7)]
    store.add_readings(readings, keep=10_000)
    episodes = []
    for a in range(3):
        t = 0.0
        for n in range(12):
            t += float(rng.uniform(20, 300))
            resolved = t + float(rng.uniform(5, 100)) if rng.random() < 0.6 else None  # else: a restart
            episodes.append((f"p{a}-{n}", f"p{a}", t, resolved))
    rng.shuffle(episodes)  # recorded in another order than they opened: some old ones come late
    cut = None
    for k, (alert_id, asset, opened, resolved) in enumerate(episodes):
        if k == len(episodes) // 2:
            cut = time.time()
            time.sleep(0.01)
        store.add_alert(_alert(alert_id, asset, opened))
        if resolved is not None:
            store.add_alert(_alert(alert_id, asset, opened, state="resolved", ts=resolved))
        if rng.random() < 0.4:
            verdict = "normal" if rng.random() < 0.5 else "anomaly"
            raw = orjson.dumps({"alert_id": alert_id, "label": verdict, "operator": "kim", "ts": 9e8})
            store.add_label(parse_label(raw), Source.of("labels", 0, k, raw))
    assert cut is not None
    before, labels = store.normal_sample(margin_s=15.0), store.latest_labels()
    assert store.prune_alerts(seen_before=0.0, margin_s=15.0) == 0  # none recorded that long ago
    forgotten = store.prune_alerts(seen_before=cut, margin_s=15.0)
    assert 0 < forgotten < len(episodes) // 2
    assert store.normal_sample(margin_s=15.0) == before
    assert store.latest_labels() == labels
    assert all(store.has_alert(f"p{a}-11") for a in range(3))  # each asset's newest stays
    assert store.counts()["alerts"] == len(episodes) - forgotten


def test_thinning_never_takes_an_assets_only_reading_from_a_store_of_many_assets() -> None:
    # With more than about keep / 2 assets, the older half held one reading per asset and was thinned
    # regardless of asset: a live asset that sends rarely lost its only reading, and counted as retired.
    day, now = 86_400.0, 1_780_000_000.0
    store = LabelStore(":memory:")
    for d in range(31, 0, -1):  # an old store: "x" sends once a day
        store.add_readings([("x", now - d * day, {"x": 0.0})], keep=100, retire_s=30 * day, now=now - d * day)
    rare = [(f"s{i:02d}", now - 3600 + i, {"x": 0.0}) for i in range(60)]
    busy = [("busy", now - 100 + j, {"x": 0.0}) for j in range(60)]
    store.add_readings(rare + busy, keep=100, retire_s=30 * day, now=now)
    assert {a for a, _, _ in store.normal_sample(margin_s=0.0)} == {a for a, _, _ in rare} | {"busy", "x"}
    cutoff, newest = store.retired_before(30 * day, now=now)
    assert cutoff == now - 41 - 30 * day and len(newest) == 62
    # More of the busy asset's readings thin it, not the rare ones, and the sample stays bounded.
    for k in range(20):
        more = [("busy", now + 60.0 * k + j, {"x": 0.0}) for j in range(60)]
        store.add_readings(more, keep=100, retire_s=30 * day, now=now + 60.0 * k + 60)
    assert {a for a, _, _ in store.normal_sample(margin_s=0.0)} >= {a for a, _, _ in rare}
    assert store.reading_count() <= 100 + 60


def test_a_sample_of_more_assets_than_it_can_hold_keeps_the_newest_within_twice_its_size() -> None:
    store = LabelStore(":memory:")
    store.add_readings([(f"id-{i:03d}", float(i), {"x": 0.0}) for i in range(300)], keep=100)
    held = {a for a, _, _ in store.normal_sample(margin_s=0.0)}
    assert store.reading_count() == 200 and held == {f"id-{i:03d}" for i in range(100, 300)}
