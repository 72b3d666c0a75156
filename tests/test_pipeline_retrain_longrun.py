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
    calls, latest = [], store.latest_labels
    monkeypatch.setattr(store, "latest_labels", lambda: calls.append(1) or latest())
    seen = []
    monkeypatch.setattr(
        retrainer, "_run", lambda trigger, labelled, normal, retired: seen.append((labelled, normal))
    )
    retrainer.start_run("on_demand").result(timeout=10)
    assert len(calls) == 1
    [(labelled, normal)] = seen
    assert labelled == expected_labels and normal == expected_normal
    assert store.counts()["alerts"] == reference.counts()["alerts"] < 40
