"""The retrainer over months of running: what one run reads from the label store, and how old the store
counts as when it retires assets."""

from __future__ import annotations

import time

import orjson
from test_pipeline_labels import _alert
from test_pipeline_retrain_deadletters import _retrainer

from pipeline.config import Settings
from pipeline.labels import Source, parse_label
from pipeline.labelstore import LabelStore


def _store_with_labels(store: LabelStore, n: int) -> None:
    for k in range(n):
        store.add_alert(_alert(f"a{k}", f"p{k % 3}", 100.0 * k))
        verdict = "normal" if k % 2 else "anomaly"
        raw = orjson.dumps({"alert_id": f"a{k}", "label": verdict, "operator": "kim", "ts": 9e8 + k})
        store.add_label(parse_label(raw), Source.of("labels", 0, k, raw))
    store.add_readings(
        [(f"p{a}", float(t), {"x": 0.0}) for a in range(3) for t in range(0, 100 * n, 7)], keep=10**6
    )


def test_a_run_reads_the_labels_that_count_once_and_samples_as_before(monkeypatch) -> None:
    # Each run worked out the labels that count three times (forgetting old alerts, the labelled
    # readings, the normal sample): at a year of labels, seconds of the loop's time per run.
    clock = [time.time() + 3600.0]
    settings = Settings.model_validate({"retrain": {"alert_retention_s": 60.0}})
    retrainer, store, _ = _retrainer(clock, settings)
    _store_with_labels(store, 40)
    expected_labels = store.latest_labels()
    margin = settings.retrain.episode_margin_s
    reference = LabelStore(":memory:")
    _store_with_labels(reference, 40)
    reference.prune_alerts(seen_before=clock[0] - 60.0, margin_s=margin)
    expected_normal = reference.normal_sample(margin_s=margin)
    expected_episodes = reference.confirmed_episodes()
    calls, latest = [], store.latest_labels
    monkeypatch.setattr(store, "latest_labels", lambda: calls.append(1) or latest())
    seen = []
    monkeypatch.setattr(
        retrainer,
        "_run",
        lambda trigger, labelled, normal, retired, episodes, *stamp: seen.append(
            (labelled, normal, episodes)
        ),
    )
    retrainer.start_run("on_demand").result(timeout=10)
    assert len(calls) == 1
    [(labelled, normal, episodes)] = seen
    assert labelled == expected_labels and normal == expected_normal and episodes == expected_episodes
    assert store.counts()["alerts"] == reference.counts()["alerts"] < 40


def test_one_reading_dated_1970_does_not_make_a_young_store_old_enough_to_retire_assets() -> None:
    # The store's age was its oldest reading's: one reading a gateway dated 1970 (a clock reset),
    # from an asset that goes on sending and so keeps its oldest reading through every thinning, made a
    # store two days old look 56 years old, and the next run dropped from the reference sample every
    # asset the store had not sampled in the last 30 days (one whose partition it had not read yet).
    day, now = 86_400.0, 1_780_000_000.0
    store = LabelStore(":memory:")
    for d in range(2):
        t = now + d * day
        rows = [(f"p{a}", t + 60.0 * i, {"x": 0.0}) for a in range(3) for i in range(10)]
        store.add_readings(rows, keep=40, retire_s=30 * day, now=t + 600.0)
        if d == 0:  # as a store that sampled it before readings that old were refused holds it
            store.add_readings([("p0", 12.0, {"x": 0.0})], keep=40)
    assert min(t for _, t, _ in store.normal_sample(margin_s=0.0)) == 12.0  # it survived thinning
    assert store.retired_before(30 * day, now=now + day + 600.0) is None
    # A backlog of an asset dated before the store's start is no sign it was retired, either.
    store.add_readings([("late", now - 20 * day, {"x": 0.0})], keep=40, retire_s=30 * day, now=now + day)
    assert "late" in {a for a, _, _ in store.normal_sample(margin_s=0.0)}
    # Once the store has received for asset_retire_s, its own rule retires as before.
    later = now + 31 * day
    store.add_readings([("p1", later, {"x": 0.0})], keep=40, retire_s=30 * day, now=later)
    assert {a for a, _, _ in store.normal_sample(margin_s=0.0)} == {"p0", "p1", "p2"}  # not "late"
    cutoff, newest = store.retired_before(30 * day, now=later)
    assert cutoff == later - 30 * day and set(newest) == {"p0", "p1", "p2"}


def test_the_store_counts_its_age_from_its_first_reading_across_a_reopen(tmp_path) -> None:
    day, now = 86_400.0, 1_780_000_000.0
    path = tmp_path / "labels.sqlite"
    store = LabelStore(path)
    store.add_readings([("p1", 0.0, {"x": 0.0}), ("p1", now, {"x": 0.0})], keep=10, retire_s=day, now=now)
    store.commit()
    store.close()
    again = LabelStore(path)
    assert again.retired_before(day, now=now + day - 1) is None
    again.add_readings([("p2", now + day, {"x": 0.0})], keep=10, retire_s=day, now=now + day)
    assert again.retired_before(day, now=now + day) == (now, {"p1": now, "p2": now + day})


def test_a_store_written_before_it_kept_its_start_counts_from_its_next_readings() -> None:
    day, now = 86_400.0, 1_780_000_000.0
    store = LabelStore(":memory:")
    store.add_readings([("p1", 12.0, {"x": 0.0}), ("p2", now, {"x": 0.0})], keep=10)
    store._db.execute("DELETE FROM state")  # as an earlier version left it: readings, no start
    assert store.retired_before(day, now=now) is None
    store.add_readings([("p2", now + 60, {"x": 0.0})], keep=10, retire_s=day, now=now + 60)
    assert {a for a, _, _ in store.normal_sample(margin_s=0.0)} == {"p1", "p2"}  # nothing retired yet
    store.add_readings([("p2", now + day + 60, {"x": 0.0})], keep=10, retire_s=day, now=now + day + 60)
    assert {a for a, _, _ in store.normal_sample(margin_s=0.0)} == {"p2"}


def test_a_reading_dated_before_the_retirement_horizon_is_not_sampled() -> None:
    # A reading a gateway dated 1970 joined the sample, and thinning keeps each asset's oldest reading:
    # it stayed for good and trained every later model as normal operation (and opened every training
    # window in 1970). A reading older than asset_retire_s before the sample's newest is not sampled.
    day, now = 86_400.0, 1_780_000_000.0
    store = LabelStore(":memory:")
    rows = [("p0", now + 60.0 * i, {"x": 0.0}) for i in range(10)]
    added = store.add_readings(
        [*rows, ("p0", 12.0, {"x": 9.0}), ("p1", now - 31 * day, {"x": 0.0}), ("p1", now - 29 * day, {})],
        keep=40,
        retire_s=30 * day,
        now=now + 600.0,
    )
    assert added == 11
    assert sorted(t for a, t, _ in store.normal_sample(margin_s=0.0) if a == "p1") == [now - 29 * day]
    store.add_readings([("p0", 12.0, {"x": 9.0})], keep=40, retire_s=30 * day, now=now + 900.0)
    assert min(t for _, t, _ in store.normal_sample(margin_s=0.0)) == now - 29 * day
    # Judged against the sample's newest reading when the host's clock runs a year ahead, as the
    # retirement rule is: the fleet's readings still join it.
    store.add_readings([("p2", now + 700.0, {})], keep=40, retire_s=30 * day, now=now + 365 * day)
    assert "p2" in {a for a, _, _ in store.normal_sample(margin_s=0.0)}
    # With asset_retire_s null (no asset ever retired) there is no horizon either.
    store.add_readings([("p3", 12.0, {})], keep=40, now=now + 900.0)
    assert "p3" in {a for a, _, _ in store.normal_sample(margin_s=0.0)}


def test_a_store_restored_from_an_old_backup_retires_nothing_on_its_first_new_reading(tmp_path) -> None:
    # A store restored from a backup older than asset_retire_s (or a retrainer stopped that long)
    # retired every asset but those of its first new batch: the readings of assets whose partitions it
    # had not read again yet went, and the next run dropped their reference rows and feature references.
    day, then = 86_400.0, 1_780_000_000.0
    store = LabelStore(tmp_path / "labels.sqlite")
    for d in range(40):  # an old store, five assets
        rows = [(f"p{a}", then + d * day + 60.0 * a, {"x": 0.0}) for a in range(5)]
        store.add_readings(rows, keep=1000, retire_s=30 * day, now=then + d * day + 600.0)
    assert store.retired_before(30 * day, now=then + 40 * day) is not None
    now = then + 80 * day  # restored 40 days later: p0's partition is read first
    store.add_readings([("p0", now, {"x": 0.0})], keep=1000, retire_s=30 * day, now=now + 1.0)
    assert {a for a, _, _ in store.normal_sample(margin_s=0.0)} == {f"p{a}" for a in range(5)}
    assert store.retired_before(30 * day, now=now + day) is None
    # Received for asset_retire_s since: the assets that never came back are retired.
    for d in range(1, 32):
        later = now + d * day
        store.add_readings([("p1", later, {"x": 0.0})], keep=1000, retire_s=30 * day, now=later)
    assert {a for a, _, _ in store.normal_sample(margin_s=0.0)} == {"p1"}


def test_a_start_recorded_by_a_clock_far_ahead_is_counted_again_from_now() -> None:
    # The retrainer's host booted with its clock a year ahead (no NTP yet) as the store received its
    # first readings: nothing was retired for a year and 30 days, whatever the fleet did.
    day, now = 86_400.0, 1_780_000_000.0
    store = LabelStore(":memory:")
    store.add_readings([("p0", now, {"x": 0.0}), ("p1", now, {"x": 0.0})], keep=100, now=now + 365 * day)
    for d in range(1, 32):
        store.add_readings(
            [("p0", now + d * day, {"x": 0.0})], keep=100, retire_s=30 * day, now=now + d * day
        )
    assert {a for a, _, _ in store.normal_sample(margin_s=0.0)} == {"p0"}


def test_a_retrainer_down_past_asset_retire_s_retires_nothing_while_it_reads_its_backlog() -> None:
    # asset_retire_s of two days, the retrainer down over a weekend (62 h). Its backlog comes back in
    # batches of a partition's fetch each: one of a quiet asset covers ten hours, one of the busy
    # assets ten minutes, so the quiet partition's readings reach Monday while the busy ones are still
    # at Friday evening. No batch jumped by more than asset_retire_s, so the store's age went on
    # counting, and the busy assets (live all along) were retired as silent for two days.
    hour, retire_s = 3600.0, 48 * 3600.0
    store, start = LabelStore(":memory:"), 1_780_000_000.0
    busy = [f"b{k}" for k in range(3)]
    for h in range(5 * 24):  # five days of receiving, every asset live
        t = start + h * hour
        rows = [("quiet", t, {"x": 0.0})] + [(b, t + 60.0 * k, {"x": 0.0}) for k, b in enumerate(busy)]
        store.add_readings(rows, keep=10_000, retire_s=retire_s, now=t + 300.0)
    friday = start + 5 * 24 * hour
    monday = friday + 62 * hour
    now = monday
    for n in range(7):  # the backlog: quiet partition 10 h a batch, busy one 10 min a batch
        quiet = [("quiet", friday + n * 10 * hour + h * hour, {"x": 0.0}) for h in range(10)]
        store.add_readings(quiet, keep=10_000, retire_s=retire_s, now=now)
        now += 1.0
        rows = [(b, friday + n * 600.0 + 60.0 * k, {"x": 0.0}) for k, b in enumerate(busy)]
        store.add_readings(rows, keep=10_000, retire_s=retire_s, now=now)
        now += 1.0
    assert {a for a, _, _ in store.normal_sample(margin_s=0.0)} >= set(busy)
    assert store.retired_before(retire_s, now=now) is None  # its age counts again from the restart
