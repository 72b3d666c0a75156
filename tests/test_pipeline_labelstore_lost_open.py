"""An episode the label store knows only from its resolved event (the alerts topic's retention deleted
its open event): the resolved event's score is the one under the threshold that ended the episode, so
the store keeps no opening score, threshold nor model for it, as ``dhag-pipeline alerts`` shows ``-``,
and takes them from the open event when that comes after the resolution."""

from __future__ import annotations

import orjson
from labels_support import open_alert

from pipeline.labels import Label
from pipeline.labelstore import LabelStore, Source
from pipeline.retrain.alertfeed import alert_event_of


def _resolved(alert_id: str, opened_at: float) -> dict:
    """The resolved event of ``open_alert(alert_id, ...)``: a later score under the threshold, by a
    model swapped in while it was open."""
    event = open_alert(alert_id, opened_at, {"x": 1.0}) | {
        "schema": 1,
        "state": "resolved",
        "ts": opened_at + 600,
        "score": 0.12,
        "threshold": 0.55,
        "model_version": "v2",
    }
    return alert_event_of(orjson.dumps(event))


def test_an_episode_known_from_its_resolved_event_has_no_opening_score() -> None:
    store = LabelStore(":memory:")
    store.add_alert(_resolved("a1", 1000.0))
    alert = store.alert("a1")
    assert alert is not None
    assert (alert["score"], alert["threshold"], alert["model_version"]) == (None, None, None)
    assert (alert["opened_at"], alert["resolved_at"], alert["values"]) == (1000.0, 1600.0, {"x": 1.0})
    # What reads the store takes it as any other episode: a label joins it, it counts, it keeps
    # readings of its span out of the normal sample.
    lab = Label.model_validate({"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 2000})
    store.add_label(lab, Source("labels", 0, 0))
    assert [(r.alert_id, r.y, r.values) for r in store.latest_labels()] == [("a1", 1, {"x": 1.0})]
    assert store.episodes() == [("p1", 1000.0, 1600.0)]


def test_the_open_event_read_after_the_resolution_gives_the_opening_score() -> None:
    store = LabelStore(":memory:")
    store.add_alert(_resolved("a1", 1000.0))
    store.add_alert(open_alert("a1", 1000.0, {"x": 1.0}))
    alert = store.alert("a1")
    assert alert is not None
    assert (alert["score"], alert["threshold"], alert["model_version"]) == (0.9, 0.5, "v1")
    assert alert["resolved_at"] == 1600.0


def test_a_resolution_after_the_open_event_keeps_the_opening_score() -> None:
    store = LabelStore(":memory:")
    store.add_alert(open_alert("a1", 1000.0, {"x": 1.0}))
    store.add_alert(_resolved("a1", 1000.0))
    store.add_alert(open_alert("a1", 1000.0, {"x": 1.0}) | {"score": 0.7, "model_version": "v3"})
    alert = store.alert("a1")
    assert alert is not None
    assert (alert["score"], alert["threshold"], alert["model_version"]) == (0.9, 0.5, "v1")
