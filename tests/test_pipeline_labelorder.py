"""Which label of an alert counts, and what a label by reading trains on (no broker needed)."""

from __future__ import annotations

import orjson
from labels_support import open_alert

from pipeline.labels import Label, parse_label
from pipeline.labelstore import LabelStore, Source
from pipeline.retrain.featuremap import FeatureMap


def _alert(alert_id: str, opened_at: float) -> dict:
    return open_alert(alert_id, opened_at, {"x": 1.0, "y": 2.0, "z": 3.0})


def _label(**fields: object) -> Label:
    return parse_label(orjson.dumps({"operator": "kim", "ts": 100.0} | fields))


def test_a_later_label_of_the_same_partition_counts_whatever_its_consoles_clock_says() -> None:
    # Before, labels ranked by the time each console put on them: a rejection sent 30 s after a
    # confirmation, from a console whose clock ran 2 minutes slow, lost to it for good.
    store = LabelStore(":memory:")
    store.add_alert(_alert("a1", 1000.0))
    store.add_label(_label(alert_id="a1", label="anomaly", operator="ann", ts=5000.0), Source("labels", 0, 5))
    store.add_label(_label(alert_id="a1", label="normal", operator="bob", ts=4910.0), Source("labels", 0, 6))
    [latest] = store.latest_labels()
    assert (latest.operator, latest.y) == ("bob", 0)
    assert [h["operator"] for h in store.history("a1")] == ["ann", "bob"]
    # The labels topic recreated (or moved to another cluster): its offsets start again, and the
    # correction at offset 3 came after the verdict at offset 500 of the old topic.
    again = LabelStore(":memory:")
    again.add_alert(_alert("a1", 1000.0))
    old = _label(alert_id="a1", label="anomaly", operator="kim", ts=1000.0)
    new = _label(alert_id="a1", label="normal", operator="lee", ts=90_000.0)
    again.add_label(old, Source("labels", 0, 500), received_at=1100.0)
    again.add_label(new, Source("labels", 0, 3), received_at=90_100.0)
    assert again.latest_labels()[0].operator == "lee"


def test_a_label_by_reading_that_copies_part_of_it_trains_on_the_alerts_whole_reading() -> None:
    # Where both hold a sensor, the operator's value is kept: an alert recorded before alert events
    # were checked may hold null for a sensor whose value was not finite.
    # Confirmed by alert id, then labelled by reading with only the sensor the operator looked at: the
    # partial copy became the label that counted, and its row was dropped from training, unreported.
    features = FeatureMap(["x", "y", "z"], None)
    for alert_first in (True, False):
        store = LabelStore(":memory:")
        if alert_first:
            store.add_alert(_alert("a1", 1000.0))
        store.add_label(
            _label(asset_id="p1", ts=1000.0, values={"z": 3.0}, label="anomaly", labelled_at=1200.0),
            Source("labels", 1, 0),
        )
        if not alert_first:
            store.add_alert(_alert("a1", 1000.0))
        [latest] = store.latest_labels()
        assert latest.alert_id == "a1" and latest.values == {"x": 1.0, "y": 2.0, "z": 3.0}, alert_first
        X, kept = features.matrix([(latest.asset_id, latest.values)])
        assert kept.tolist() == [True] and X.tolist() == [[1.0, 2.0, 3.0]]


def test_the_operators_value_stands_over_a_null_the_alert_recorded() -> None:
    store = LabelStore(":memory:")
    store.add_alert(_alert("a1", 1000.0) | {"values": {"x": None, "y": 2.0, "z": 3.0}})
    store.add_label(
        _label(asset_id="p1", ts=1000.0, values={"x": 1.0}, label="anomaly"), Source("labels", 1, 0)
    )
    [latest] = store.latest_labels()
    assert latest.values == {"x": 1.0, "y": 2.0, "z": 3.0}
