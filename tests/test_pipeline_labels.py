"""The operator-label contract and the SQLite label store (no broker needed)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pipeline.labels import Label, LabelError, LabelReason, label_message, parse_label
from pipeline.labelstore import LabelStore, Source


def _alert(alert_id: str, asset: str, opened_at: float, state: str = "open", **extra: object) -> dict:
    event = {
        "alert_id": alert_id,
        "asset_id": asset,
        "state": state,
        "opened_at": opened_at,
        "ts": extra.pop("ts", opened_at),
        "score": 0.9,
        "threshold": 0.5,
        "model_version": "v1",
        "values": {"x": 1.0, "y": 2.0},
    }
    return event | extra


def _label(**fields: object) -> Label:
    return parse_label(orjson.dumps({"operator": "kim", "ts": 100.0} | fields))


@pytest.mark.parametrize(
    ("raw", "reason", "names"),
    [
        (b"{not json", LabelReason.NOT_JSON, ""),
        (b"[1, 2]", LabelReason.NOT_OBJECT, "list"),
        (b'{"alert_id": "a1", "operator": "kim", "ts": 1}', LabelReason.MISSING_FIELD, "label"),
        (
            b'{"alert_id": "a1", "label": "maybe", "operator": "kim", "ts": 1}',
            LabelReason.BAD_VALUE,
            "label",
        ),
        (b'{"alert_id": "a1", "label": 1, "operator": "kim", "ts": 1}', LabelReason.WRONG_TYPE, "label"),
        (
            b'{"alert_id": "a1", "label": "normal", "operator": "  ", "ts": 1}',
            LabelReason.BAD_VALUE,
            "operator",
        ),
        (
            b'{"alert_id": "a\\t1", "label": "normal", "operator": "kim", "ts": 1}',
            LabelReason.BAD_VALUE,
            "alert_id",
        ),
        (
            b'{"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 1e13}',
            LabelReason.BAD_VALUE,
            "ts",
        ),
        (b'{"label": "normal", "operator": "kim", "ts": 1}', LabelReason.BAD_VALUE, "alert_id"),
        (
            b'{"alert_id": "a1", "asset_id": "p1", "values": {"x": 1}, "label": "normal", "operator": "k", '
            b'"ts": 1}',
            LabelReason.BAD_VALUE,
            "not both",
        ),
        (
            b'{"asset_id": "p1", "values": {"x": "hot"}, "label": "normal", "operator": "k", "ts": 1}',
            LabelReason.WRONG_TYPE,
            "values.x",
        ),  # fmt: skip
        # Types the sensor records refuse are refused here too, not converted.
        (
            b'{"asset_id": "p1", "values": {"x": "12.5"}, "label": "normal", "operator": "k", "ts": 1}',
            LabelReason.WRONG_TYPE,
            "values.x",
        ),  # fmt: skip
        (
            b'{"asset_id": "p1", "values": {"x": true}, "label": "normal", "operator": "k", "ts": 1}',
            LabelReason.WRONG_TYPE,
            "values.x",
        ),  # fmt: skip
        (
            b'{"schema": true, "alert_id": "a1", "label": "normal", "operator": "k", "ts": 1}',
            LabelReason.WRONG_TYPE,
            "schema",
        ),
        (
            b'{"alert_id": "a1", "label": "normal", "operator": "k\\u0000", "ts": 1}',
            LabelReason.BAD_VALUE,
            "control",
        ),
        # A label dated ahead would outrank every correction until then.
        (
            b'{"alert_id": "a1", "label": "anomaly", "operator": "k", "ts": "2099-01-01T00:00:00Z"}',
            LabelReason.BAD_VALUE,
            "future",
        ),
        (
            b'{"asset_id": "p1", "values": {"x": 1}, "label": "normal", "operator": "k", "ts": 1, '
            b'"labelled_at": 32503680000}',
            LabelReason.BAD_VALUE,
            "labelled_at lies",
        ),  # fmt: skip
    ],
)
def test_bad_labels_are_refused_with_a_reason_naming_the_problem(
    raw: bytes, reason: LabelReason, names: str
) -> None:
    with pytest.raises(LabelError) as caught:
        parse_label(raw)
    assert caught.value.reason == reason
    assert names in caught.value.detail


def test_oversized_labels_are_refused_before_decoding() -> None:
    raw = orjson.dumps({"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 1, "note": "x" * 500})
    with pytest.raises(LabelError) as caught:
        parse_label(raw, max_bytes=300)
    assert caught.value.reason == LabelReason.OVERSIZED
    assert parse_label(raw, max_bytes=1000).note == "x" * 500


def test_valid_labels_in_both_forms_round_trip() -> None:
    by_alert = parse_label(
        label_message(alert_id="a1", label="anomaly", operator="kim", note="bearing", now=50.0)
    )
    assert (by_alert.alert_id, by_alert.label, by_alert.ts, by_alert.note, by_alert.by_alert) == (
        "a1",
        "anomaly",
        50.0,
        "bearing",
        True,
    )
    reading = _label(
        asset_id="p1", ts="2026-11-29T10:15:00.250Z", values={"x": 1}, label="normal", labelled_at=9e8
    )
    assert reading.ts == 1795947300.25 and reading.values == {"x": 1.0} and not reading.by_alert
    assert reading.given_at == 9e8
    with pytest.raises(LabelError):
        label_message(alert_id="a1", label="anomaly", operator="")


def test_labels_join_alerts_by_id_and_by_asset_ts_values() -> None:
    store = LabelStore(":memory:")
    assert store.add_alert(_alert("a1", "p1", 1000.0)).new
    assert not store.add_alert(_alert("a1", "p1", 1000.0, state="resolved", ts=1100.0)).new
    assert store.alert("a1")["resolved_at"] == 1100.0
    store.add_label(_label(alert_id="a1", label="anomaly"), Source("labels", 0, 0))
    # The same reading as the alert's opening record: joins the alert.
    store.add_label(
        _label(asset_id="p1", ts=1000.0, values={"x": 1.0, "y": 2.0}, label="normal", labelled_at=200.0),
        Source("labels", 0, 1),
    )
    # A reading no alert opened on: a labelled reading of its own.
    store.add_label(
        _label(asset_id="p2", ts=500.0, values={"x": 3.0, "y": 4.0}, label="anomaly"), Source("labels", 1, 0)
    )
    latest = store.latest_labels()
    assert [(r.alert_id, r.asset_id, r.ts, r.y) for r in latest] == [
        (None, "p2", 500.0, 1),
        ("a1", "p1", 1000.0, 0),
    ]
    assert latest[1].values == {"x": 1.0, "y": 2.0}
    with pytest.raises(KeyError):
        store.add_label(_label(alert_id="never-seen", label="normal"), Source("labels", 0, 2))


def test_conflicting_labels_the_latest_wins_and_the_history_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "labels.sqlite"
    store = LabelStore(path)
    store.add_alert(_alert("a1", "p1", 1000.0))
    store.add_label(_label(alert_id="a1", label="anomaly", operator="kim", ts=100.0), Source("labels", 0, 0))
    store.add_label(_label(alert_id="a1", label="normal", operator="lee", ts=200.0), Source("labels", 0, 1))
    # A replay of the same Kafka position adds nothing.
    assert not store.add_label(
        _label(alert_id="a1", label="normal", operator="lee", ts=200.0), Source("labels", 0, 1)
    )
    # An older verdict that arrives late does not override the newer one.
    store.add_label(_label(alert_id="a1", label="anomaly", operator="ann", ts=150.0), Source("labels", 2, 0))
    store.commit()
    store.close()
    reopened = LabelStore(path)
    assert [(h["label"], h["operator"]) for h in reopened.history("a1")] == [
        ("anomaly", "kim"),
        ("anomaly", "ann"),
        ("normal", "lee"),
    ]
    [latest] = reopened.latest_labels()
    assert (latest.y, latest.operator) == (0, "lee")
    assert reopened.label_count() == 3 and reopened.labels_since(1) == 2


def test_uncommitted_writes_are_not_durable(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    store = LabelStore(path)
    store.add_alert(_alert("a1", "p1", 1000.0))
    store.commit()
    store.add_alert(_alert("a2", "p1", 2000.0))
    store._db.close()  # a crash before commit
    assert LabelStore(path).counts()["alerts"] == 1


def test_the_normal_sample_is_bounded_and_leaves_out_alert_episodes() -> None:
    store = LabelStore(":memory:")
    rows = [(asset, float(t), {"x": float(t)}) for t in range(0, 1000, 10) for asset in ("p1", "p2")]
    assert store.add_readings(rows, keep=150) == 200
    assert store.reading_count() == 150
    assert store.add_readings(rows[-10:], keep=150) == 0  # a replay adds nothing
    # Thinned from the old end: the newer half is all there, the older half still represented.
    before = store.normal_sample(margin_s=0.0)
    assert sum(t >= 500 for _, t, _ in before) == 100
    assert 25 <= sum(t < 500 for _, t, _ in before) <= 50 and min(t for _, t, _ in before) < 50
    store.add_alert(_alert("a1", "p1", 800.0, state="resolved", ts=850.0))
    store.add_alert(_alert("a2", "p2", 990.0))  # still open: everything after it is excluded
    sample = store.normal_sample(margin_s=20.0)
    kept = {(a, t) for a, t, _ in sample}
    assert ("p1", 770.0) in kept and ("p1", 780.0) not in kept and ("p1", 870.0) not in kept
    assert ("p1", 880.0) in kept and ("p2", 960.0) in kept and ("p2", 970.0) not in kept
    assert [t for _, t, _ in sample] == sorted(t for _, t, _ in sample)


def test_an_alert_never_resolved_ends_when_its_asset_opens_the_next_one() -> None:
    # Its daemon restarted while it was open, so no resolution came. Before, the asset gave no normal
    # reading from then on, however many later episodes opened and resolved.
    store = LabelStore(":memory:")
    store.add_readings([("p1", float(t), {"x": 0.0}) for t in range(0, 1000, 10)], keep=1000)
    store.add_alert(_alert("orphan", "p1", 100.0))
    store.add_alert(_alert("next", "p1", 600.0, state="resolved", ts=650.0))
    times = {t for _, t, _ in store.normal_sample(margin_s=0.0)}
    assert not times & {100.0, 300.0, 590.0, 600.0, 650.0}
    assert {90.0, 660.0, 990.0} <= times
    store.add_alert(_alert("open", "p1", 800.0))  # the newest one still open: all after it stays out
    assert max(t for _, t, _ in store.normal_sample(margin_s=0.0)) == 790.0


def test_a_rejected_alerts_episode_returns_to_the_normal_sample() -> None:
    store = LabelStore(":memory:")
    store.add_readings([("p1", float(t), {"x": 0.0}) for t in range(0, 200, 10)], keep=1000)
    store.add_alert(_alert("a1", "p1", 50.0, state="resolved", ts=80.0))
    store.add_alert(_alert("a2", "p1", 140.0, state="resolved", ts=160.0))

    def times() -> list[float]:
        return [t for _, t, _ in store.normal_sample(margin_s=0.0)]

    assert 60.0 not in times() and 150.0 not in times()
    label = {"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 300}
    store.add_label(Label.model_validate(label), Source("labels", 0, 0))
    store.add_label(
        Label.model_validate(label | {"alert_id": "a2", "label": "anomaly"}), Source("labels", 0, 1)
    )
    assert {50.0, 60.0, 70.0, 80.0} <= set(times()) and 150.0 not in times()
    # The label that counts is the latest: confirmed after all, the episode leaves the sample again.
    later = label | {"label": "anomaly", "ts": 400}
    store.add_label(Label.model_validate(later), Source("labels", 0, 2))
    assert 60.0 not in times()


def test_pending_labels_are_kept_until_dropped() -> None:
    store = LabelStore(":memory:")
    store.add_pending("a9", b"{}", Source("labels", 0, 5), first_seen=10.0)
    store.add_pending("a9", b"{}", Source("labels", 0, 5), first_seen=11.0)
    [item] = store.pending()
    assert (item.alert_id, item.source, item.first_seen) == ("a9", "labels/0/5", 10.0)
    store.drop_pending(item.source)
    assert store.pending_count() == 0


def test_thinning_the_sample_keeps_every_asset() -> None:
    store = LabelStore(":memory:")
    assets = [f"p{i:02d}" for i in range(24)]
    # Readings arrive in a fixed asset order at each time step, as the simulator and most plants send them.
    rows = [(a, float(t), {"x": 0.0}) for t in range(0, 4000, 10) for a in assets]
    for start in range(0, len(rows), 960):
        store.add_readings(rows[start : start + 960], keep=1200)
    sample = store.normal_sample(margin_s=0.0)
    counts = {a: sum(r[0] == a for r in sample) for a in assets}
    assert len(sample) <= 1200 and min(counts.values()) >= 0.8 * max(counts.values()), counts
    assert min(t for _, t, _ in sample) < 500  # still reaching back


def test_the_retrainer_samples_every_asset_of_a_round_robin_stream(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from pipeline.config import Settings
    from pipeline.metrics import RetrainMetrics
    from pipeline.retrain.service import Retrainer

    settings = Settings.model_validate(
        {"model": {"registry": str(tmp_path)}, "retrain": {"normal_sample_every": 10, "on_drift": False}}
    )
    store = LabelStore(":memory:")
    retrainer = Retrainer(
        settings, store, RetrainMetrics(CollectorRegistry()), bootstrap_servers="unused:9092"
    )
    assets = [f"p{i:02d}" for i in range(24)]
    messages = [
        SimpleNamespace(
            offset=n,
            value=orjson.dumps({"asset_id": assets[n % 24], "ts": float(n // 24), "values": {"x": 1.0}}),
        )
        for n in range(24 * 100)
    ]
    retrainer._readings(messages)
    sample = store.normal_sample(margin_s=0.0)
    # One reading in 10 of each asset: the stream position's stride (10) would have sampled half of them.
    assert {a for a, _, _ in sample} == set(assets)
    assert len(sample) == 24 * 10


def test_a_reading_label_that_arrives_before_its_alert_joins_the_alert() -> None:
    store = LabelStore(":memory:")
    reading = {"asset_id": "p1", "ts": 1000.0, "values": {"x": 1.0, "y": 2.0}}
    store.add_label(_label(**reading, label="anomaly", labelled_at=1010.0), Source("labels", 0, 0))
    assert [(r.key, r.alert_id) for r in store.latest_labels()] == [("reading:p1@1000.0", None)]
    store.add_alert(_alert("a1", "p1", 1000.0))  # the alert that opened on that reading, seen later
    store.add_label(_label(alert_id="a1", label="normal", ts=1020.0), Source("labels", 0, 1))
    # One verdict for the one reading: the later one, by alert.
    assert [(r.key, r.y) for r in store.latest_labels()] == [("alert:a1", 0)]


def test_a_correction_by_reading_outranks_an_earlier_verdict_by_alert() -> None:
    store = LabelStore(":memory:")
    store.add_alert(_alert("a1", "p1", 1000.0))
    store.add_label(
        _label(alert_id="a1", label="anomaly", ts=1700.0), Source("labels", 0, 0), received_at=1701.0
    )
    # Sent by reading, without labelled_at: its ts is the reading's (1000), not when it was given.
    correction = _label(asset_id="p1", ts=1000.0, values={"x": 1.0, "y": 2.0}, label="normal")
    store.add_label(correction, Source("labels", 0, 1), received_at=1800.0)
    assert [(r.key, r.y, r.given_at) for r in store.latest_labels()] == [("alert:a1", 0, 1800.0)]


def test_a_fault_confirmed_by_its_reading_leaves_the_normal_sample() -> None:
    # No alert caught it: the operator labels the reading itself. Its neighbours are the fault too.
    store = LabelStore(":memory:")
    store.add_readings([("p1", float(t), {"x": 0.0}) for t in range(0, 200, 10)], keep=1000)
    store.add_label(
        _label(asset_id="p1", ts=100.0, values={"x": 5.0}, label="anomaly"), Source("labels", 0, 0)
    )
    store.add_label(_label(asset_id="p1", ts=20.0, values={"x": 0.0}, label="normal"), Source("labels", 0, 1))
    times = [t for _, t, _ in store.normal_sample(margin_s=30.0)]
    assert times == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 140.0, 150.0, 160.0, 170.0, 180.0, 190.0]


def test_a_label_with_a_byte_order_mark_is_read_as_a_sensor_record_with_one_is() -> None:
    raw = b'\xef\xbb\xbf{"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 1}'
    assert parse_label(raw).label == "normal"  # before: not_json
