"""One batch through the processor, without a broker: offsets, DLQ records, alerts, partition ownership."""

from __future__ import annotations

import copy
import logging
from collections import namedtuple

import numpy as np
import orjson
from pipeline_kafka import reading
from plant_data import FEATURES, near_float32_limit, normal
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value")


def _processor(fitted, **alerts) -> tuple[BatchProcessor, CollectorRegistry]:
    settings = Settings.model_validate(
        {"alerts": {"open_after": 2, "window": 3, "resolve_after": 3} | alerts}
    )
    reg = CollectorRegistry()
    return BatchProcessor(settings, fitted, "v7", PipelineMetrics(reg)), reg


def test_offsets_are_next_positions_and_bad_records_carry_their_source(fitted) -> None:
    proc, reg = _processor(fitted)
    rows = normal(np.random.default_rng(0), 3)
    recs = [
        Rec("in", 0, 10, b"a", reading("a", 1.0, rows[0])),
        Rec("in", 1, 4, b"b", b"{broken"),
        Rec("in", 0, 11, b"a", reading("a", 2.0, rows[1])),
        Rec("in", 1, 5, b"b", reading("b", 3.0, rows[2])),
    ]
    out = proc.process(recs, now=0.0)
    assert out.offsets == {("in", 0): 12, ("in", 1): 6}
    assert (out.scored, out.dead_lettered) == (3, 1)
    (dlq,) = [m for m in out.messages if m.topic == "sensor-readings.dlq"]
    headers = dict(dlq.headers)
    assert dlq.value == b"{broken" and dlq.key == b"b"
    assert (headers["dlq.reason"], headers["dlq.source.partition"], headers["dlq.source.offset"]) == (
        b"not_json",
        b"1",
        b"4",
    )
    assert reg.get_sample_value("dhag_records_processed_total", {"outcome": "ok"}) == 3


def test_alert_state_is_per_partition_and_a_revoked_partition_starts_fresh(fitted) -> None:
    proc, _ = _processor(fitted)
    bad = normal(np.random.default_rng(1), 1)[0] + np.array([0, 0, 0, 9.0])
    first = proc.process([Rec("in", 2, 0, b"p", reading("p", 1.0, bad))], now=0.0)
    assert first.opened == 0
    proc.drop_partitions([("in", 2)])
    second = proc.process([Rec("in", 2, 1, b"p", reading("p", 2.0, bad))], now=1.0)
    assert second.opened == 0, "the first over-threshold score was forgotten with the partition"
    third = proc.process([Rec("in", 2, 2, b"p", reading("p", 3.0, bad))], now=2.0)
    assert third.opened == 1
    event = orjson.loads(next(m.value for m in third.messages if m.topic == "anomaly-alerts"))
    assert event["model_version"] == "v7" and event["top_sensors"][0]["sensor"] == "vibration"
    assert event["top_sensors"][0]["training_mean"] is not None
    # The vibration reading lies beyond anything the model trained on, and the event says so; the
    # other top sensors read normal values, inside their training ranges.
    top, *others = event["top_sensors"]
    low, high = top["training_range"]
    assert top["value"] > high and top["outside_training_range"] == "above"
    assert others and all(
        s["training_range"][0] <= s["value"] <= s["training_range"][1] and s["outside_training_range"] is None
        for s in others
    )


def test_readings_beyond_the_training_range_are_counted(fitted) -> None:
    proc, reg = _processor(fitted)
    rng = np.random.default_rng(6)
    rows = normal(rng, 40)
    rows[:5, 3] += 9.0  # vibration far beyond the training range
    rows[5:7, 0] -= 9.0  # and a first sensor far below it
    recs = [Rec("in", 0, i, b"r", reading(f"r-{i}", float(i), row)) for i, row in enumerate(rows)]
    proc.process(recs, now=0.0)
    low = np.array([fitted.preprocessor_.ranges_[n][0] for n in fitted.feature_names_in_])
    high = np.array([fitted.preprocessor_.ranges_[n][1] for n in fitted.feature_names_in_])
    expected = int(((rows < low) | (rows > high)).any(axis=1).sum())
    assert 7 <= expected <= 9  # the seven pushed out, and at most a normal draw or two at the edges
    assert reg.get_sample_value("dhag_readings_outside_training_range_total") == expected
    # Per asset, the latest reading's state: r-0 read beyond the range, r-20 a normal value.
    assert reg.get_sample_value("dhag_asset_outside_training_range", {"asset": "r-0"}) == 1
    assert reg.get_sample_value("dhag_asset_outside_training_range", {"asset": "r-20"}) == 0


def test_a_model_saved_before_training_ranges_were_kept_alerts_without_them(fitted) -> None:
    old = copy.deepcopy(fitted)
    old.preprocessor_.ranges_ = {}
    proc, reg = _processor(old)
    bad = normal(np.random.default_rng(1), 1)[0] + np.array([0, 0, 0, 9.0])
    out = proc.process([Rec("in", 0, i, b"p", reading("p", float(i), bad)) for i in range(2)], now=0.0)
    event = orjson.loads(next(m.value for m in out.messages if m.topic == "anomaly-alerts"))
    assert event["top_sensors"][0]["sensor"] == "vibration"
    assert all(
        s["training_range"] is None and s["outside_training_range"] is None for s in event["top_sensors"]
    )
    assert reg.get_sample_value("dhag_readings_outside_training_range_total") == 0


def test_quiet_time_sweep_resolves_with_the_opening_context(fitted) -> None:
    proc, _ = _processor(fitted, quiet_s=10.0, resolve_after=100)
    bad = normal(np.random.default_rng(2), 1)[0] + np.array([9.0, 0, 0, 0])
    proc.process([Rec("in", 0, i, b"q", reading("q", float(i), bad)) for i in range(2)], now=0.0)
    assert proc.sweep(now=5.0) == []
    (msg,) = proc.sweep(now=11.0)
    event = orjson.loads(msg.value)
    assert (event["state"], event["resolved_by"]) == ("resolved", "silence")
    assert event["top_sensors"] and event["values"]


def test_a_shift_in_the_score_stream_is_a_drift_detection(fitted, caplog) -> None:
    proc, reg = _processor(fitted)
    rng = np.random.default_rng(4)
    shifted = np.array([0, 0, 0, 6.0])
    blocks = [normal(rng, 3000), normal(rng, 3000) + shifted, normal(rng, 3000), normal(rng, 3000) + shifted]
    rows = np.vstack(blocks)
    # A reading a minute: ADWIN sees the median of each drift.bucket_s (300 s) of record time.
    recs = [Rec("in", 0, i, b"d", reading(f"d-{i % 50}", 60.0 * i, row)) for i, row in enumerate(rows)]
    proc.process(recs[:3000], now=0.0)
    assert reg.get_sample_value("dhag_drift_detections_total", {"model_version": "v7"}) in (None, 0.0)
    with caplog.at_level(logging.WARNING, logger="pipeline.processing"):
        for start in range(3000, len(recs), 3000):  # the plant goes back and forth: drift after drift
            proc.process(recs[start : start + 3000], now=1.0)
    detections = reg.get_sample_value("dhag_drift_detections_total", {"model_version": "v7"})
    assert detections >= 2
    # Every detection is counted, but the log says it once a minute per model.
    logged = [r for r in caplog.records if "score drift for model v7" in r.getMessage()]
    assert len(logged) == 1 < detections


def test_json_logs_are_one_object_per_line() -> None:
    import logging

    from pipeline.logs import JsonFormatter

    record = logging.LogRecord("pipeline.daemon", logging.WARNING, __file__, 1, "lag %d", (5,), None)
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["message"] == "lag 5" and entry["time"].endswith("Z")


def test_records_only_the_stdlib_could_read_go_to_the_dlq_or_alert_without_crashing(fitted) -> None:
    # Each of these once raised out of process() and, never committed, again after every restart.
    proc, _ = _processor(fitted, open_after=1, window=1)
    fields = ", ".join(f'"{n}": {v}' for n, v in zip(FEATURES, [1.0, 1.0, 2.0, 9.0], strict=True))
    nested = b"[" * 5_000  # past Python's recursion limit, under the size limit
    surrogate = b'{"asset_id": "p", "ts": 1, "values": {' + fields.encode() + b', "x": "\\ud800", "y": NaN}}'
    # A NaN in an extra sensor sends the record to the stdlib reader, which keeps 10**30 an int.
    huge = (
        b'{"asset_id": "q", "ts": 2, "values": {'
        + fields.encode()
        + b', "x": 1'
        + b"0" * 30
        + b', "y": NaN}}'
    )
    out = proc.process(
        [Rec("in", 0, 0, b"n", nested), Rec("in", 0, 1, b"p", surrogate), Rec("in", 0, 2, b"q", huge)],
        now=0.0,
    )
    dlq = [dict(m.headers)["dlq.reason"] for m in out.messages if m.topic == "sensor-readings.dlq"]
    assert dlq == [b"not_json", b"not_json"] and out.scored == 1 and out.opened == 1
    (alert,) = [orjson.loads(m.value) for m in out.messages if m.topic == "anomaly-alerts"]
    assert alert["asset_id"] == "q" and alert["values"]["x"] == 1e30 and alert["values"]["y"] is None
    assert alert["values"]["vibration"] == 9.0


def test_assets_that_come_and_go_leave_no_state_behind(fitted) -> None:
    # A fleet whose asset ids change over months: the per-asset state must not grow without end.
    proc, reg = _processor(fitted, quiet_s=60.0)
    rows = normal(np.random.default_rng(9), 400)
    recs = [Rec("in", 0, i, b"k", reading(f"pump-{i}", float(i), row)) for i, row in enumerate(rows)]
    assert proc.process(recs, now=0.0).scored == 400
    assert len(proc.trackers[("in", 0)]) == 400
    assert len(proc._assets[("in", 0)]) == 200  # the series' asset limit bounds what is remembered
    assert reg.get_sample_value("dhag_asset_series_refused_total") == 200
    proc.process([Rec("in", 0, 400, b"k", reading("pump-0", 400.0, rows[0]))], now=59.0)
    proc.sweep(now=61.0)
    assert len(proc.trackers[("in", 0)]) == 1  # only the asset heard from within quiet_s is kept
    # ... and the silent ones free their series: replacement assets are exported again.
    assert proc._assets[("in", 0)] == {"pump-0"}
    assert reg.get_sample_value("dhag_asset_score", {"asset": "pump-1"}) is None
    new = [Rec("in", 0, 401 + i, b"k", reading(f"new-{i}", 500.0 + i, rows[i])) for i in range(10)]
    proc.process(new, now=62.0)
    assert all(reg.get_sample_value("dhag_asset_score", {"asset": f"new-{i}"}) is not None for i in range(10))
    assert reg.get_sample_value("dhag_asset_series_refused_total") == 200


def test_records_keyed_other_than_by_their_asset_are_counted_and_logged(fitted, caplog) -> None:
    proc, reg = _processor(fitted)
    rows = normal(np.random.default_rng(2), 3)
    recs = [
        Rec("in", 0, 0, b"pump-1", reading("pump-1", 1.0, rows[0])),
        Rec("in", 0, 1, None, reading("pump-2", 2.0, rows[1])),
        Rec("in", 1, 0, b"pump-1", reading("pump-3", 3.0, rows[2])),
    ]
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        assert proc.process(recs, now=0.0).scored == 3
    assert reg.get_sample_value("dhag_records_key_mismatch_total") == 2
    (said,) = [r.getMessage() for r in caplog.records if "keyed other than" in r.getMessage()]
    assert said.startswith("2 record(s)") and "'pump-2'" in said


def test_a_record_that_raises_is_dead_lettered_and_the_rest_of_its_batch_is_processed(
    fitted, monkeypatch
) -> None:
    from pipeline.poison import process_guarded
    from pipeline.records import RecordParser

    # Stand in for a case no check foresaw: parsing raises on one record's bytes.
    parse = RecordParser.parse

    def fragile(self, raws, **kw):  # noqa: ANN001, ANN003, ANN202 - the wrapped method's signature
        if any(b"boom" in (raw or b"") for raw in raws):
            raise RuntimeError("unforeseen")
        return parse(self, raws, **kw)

    monkeypatch.setattr(RecordParser, "parse", fragile)
    proc, reg = _processor(fitted)
    rows = normal(np.random.default_rng(3), 3)
    recs = [
        Rec("in", 0, 5, b"a", reading("a", 1.0, rows[0])),
        Rec("in", 0, 6, b"b", b'{"boom": 1}'),
        Rec("in", 1, 9, b"c", reading("c", 2.0, rows[1])),
    ]
    out = process_guarded(proc, recs, now=0.0)
    assert (out.scored, out.dead_lettered) == (2, 1)
    assert out.offsets == {("in", 0): 7, ("in", 1): 10}  # the failing record is passed, not met again
    (dlq,) = [m for m in out.messages if m.topic == "sensor-readings.dlq"]
    headers = dict(dlq.headers)
    assert dlq.value == b'{"boom": 1}' and headers["dlq.reason"] == b"processing_error"
    assert headers["dlq.detail"] == b"RuntimeError: unforeseen"
    assert reg.get_sample_value("dhag_dlq_records_total", {"reason": "processing_error"}) == 1
    assert reg.get_sample_value("dhag_records_consumed_total") == 3  # once each, though reprocessed
    # A batch that does not raise goes through process() once, untouched.
    assert process_guarded(proc, recs[:1], now=1.0).scored == 1
    assert reg.get_sample_value("dhag_records_consumed_total") == 4


def test_a_stream_of_bad_records_logs_a_line_a_minute_per_reason_and_counts_every_one(fitted, caplog) -> None:
    # One asset with a stuck sensor, all day: the DLQ and its counter hold every record; the log would
    # otherwise carry 86,400 lines a day of the same thing.
    proc, reg = _processor(fitted)
    broken = [Rec("in", 0, i, b"p", b"{broken") for i in range(50)]
    wrong = [Rec("in", 0, 50 + i, b"p", b"[1, 2]") for i in range(50)]
    with caplog.at_level(logging.INFO, logger="pipeline.processing"):
        for rec in broken + wrong:
            proc.process([rec], now=float(rec.offset))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dead-lettered")]
    assert len(lines) == 2 and "not_json" in lines[0] and "not_object" in lines[1]
    assert reg.get_sample_value("dhag_dlq_records_total", {"reason": "not_json"}) == 50
    assert reg.get_sample_value("dhag_dlq_records_total", {"reason": "not_object"}) == 50


def test_a_record_too_large_for_the_broker_is_dead_lettered_cut_to_the_limit(fitted) -> None:
    # Before, the dead letter carried all 2 MiB: the broker refused it, the daemon took that for an
    # outage, and exited after unavailable_exit_s, to meet the same record again on every restart.
    from pipeline.records import DLQ_VALUE_LIMIT

    proc, _ = _processor(fitted)
    huge = b'{"asset_id": "a", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    out = proc.process([Rec("in", 0, 3, b"a", huge)], now=0.0)
    ((dlq,),) = [[m for m in out.messages if m.topic == "sensor-readings.dlq"]]
    headers = dict(dlq.headers)
    assert headers["dlq.reason"] == b"oversized" and dlq.value == huge[:DLQ_VALUE_LIMIT]
    assert headers["dlq.truncated_from"] == str(len(huge)).encode()
    assert len(headers["dlq.original_sha256"]) == 64
    assert out.offsets == {("in", 0): 4}


def test_a_row_the_model_cannot_score_is_dead_lettered_and_the_others_are_scored(fitted, monkeypatch) -> None:
    # Nothing failed when such rows were dropped: their offsets were committed with no trace of them.
    from dhag import DHAGError

    proc, reg = _processor(fitted)
    rows = normal(np.random.default_rng(3), 4)
    recs = [Rec("in", 0, 20 + i, b"a", reading("a", 1.0 + i, row)) for i, row in enumerate(rows)]
    score = proc.model.decision_function

    def fails_on_row_2(columns):  # noqa: ANN001, ANN202 - decision_function's signature
        matrix = np.column_stack(list(columns.values()))  # the daemon's rows, named by feature
        if len(matrix) > 1 or np.allclose(matrix[0], proc.parser.parse([recs[2].value]).matrix[0]):
            raise DHAGError("the network returned NaN")
        return score(columns)

    monkeypatch.setattr(proc.model, "decision_function", fails_on_row_2)
    out = proc.process(recs, now=0.0)
    assert (out.scored, out.dead_lettered, out.offsets) == (3, 1, {("in", 0): 24})
    (dlq,) = [m for m in out.messages if m.topic == "sensor-readings.dlq"]
    headers = dict(dlq.headers)
    assert (headers["dlq.reason"], headers["dlq.source.offset"], dlq.value) == (
        b"scoring_error",
        b"22",
        recs[2].value,
    )
    assert reg.get_sample_value("dhag_records_processed_total", {"outcome": "error"}) == 1


def test_a_batch_of_dead_letters_over_the_ratio_cap_trips_it(fitted) -> None:
    settings = Settings.model_validate({"dlq": {"window": 10, "min_records": 10, "max_ratio": 0.5}})
    reg = CollectorRegistry()
    proc = BatchProcessor(settings, fitted, "v7", PipelineMetrics(reg))
    out = proc.process([Rec("in", 0, i, b"a", b"oops") for i in range(9)], now=0.0)
    assert not out.dlq_tripped  # fewer than min_records seen
    out = proc.process([Rec("in", 0, 9, b"a", b"oops")], now=0.0)
    assert out.dlq_tripped and reg.get_sample_value("dhag_dlq_window_ratio") == 1.0


def test_a_score_exactly_at_the_threshold_is_not_over_it(fitted, monkeypatch) -> None:
    # The daemon and DHAG.predict draw the line at the same place: strictly above the threshold.
    proc, _ = _processor(fitted, open_after=1, window=1)
    rows = normal(np.random.default_rng(5), 2)

    def at(x):  # noqa: ANN001, ANN202 - the daemon's rows named by feature, or predict's array
        return np.full(len(next(iter(x.values())) if isinstance(x, dict) else x), proc.threshold)

    monkeypatch.setattr(proc.model, "decision_function", at)
    out = proc.process([Rec("in", 0, i, b"a", reading("a", 1.0 + i, r)) for i, r in enumerate(rows)], now=0.0)
    assert out.opened == 0
    assert fitted.predict(rows[:1]).tolist() == [0]


def test_a_drift_seen_by_an_attempt_that_was_not_delivered_is_counted_when_the_batch_is(fitted) -> None:
    # The detection was held with the counts but the detector itself moved on: the retry fed it the
    # same scores again, it saw no new drift, and the detection was never counted.
    proc, reg = _processor(fitted)
    rng = np.random.default_rng(4)
    rows = np.vstack([normal(rng, 3000), normal(rng, 3000) + np.array([0, 0, 0, 6.0])])
    # A reading a minute: ADWIN sees the median of each drift.bucket_s (300 s) of record time.
    recs = [Rec("in", 0, i, b"d", reading(f"d-{i % 50}", 60.0 * i, row)) for i, row in enumerate(rows)]
    proc.process(recs[:3000], now=0.0)
    point = proc.savepoint()
    proc.process(recs[3000:], now=1.0)
    proc.rollback(point)  # the broker did not take the output
    point = proc.savepoint()
    proc.process(recs[3000:], now=2.0)
    proc.release(point)
    assert reg.get_sample_value("dhag_drift_detections_total", {"model_version": "v7"}) >= 1


def test_a_value_the_model_cannot_standardise_is_dead_lettered_with_the_models_reason(fitted, caplog) -> None:
    # The detail said only "could not score", and the record counted as a service error; a traceback
    # was logged for every batch that held such a record.
    proc, reg = _processor(fitted)
    rows = normal(np.random.default_rng(9), 6)
    huge = orjson.loads(reading("h", 1.0, rows[0]))
    huge["values"][FEATURES[0]] = 1e300
    recs = [Rec("in", 0, i, b"h", reading("h", float(i), r)) for i, r in enumerate(rows)]
    recs.insert(2, Rec("in", 0, 99, b"h", orjson.dumps(huge)))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            out = proc.process(recs, now=0.0)
    (dlq,) = [m for m in out.messages if m.topic == "sensor-readings.dlq"]
    detail = dict(dlq.headers)["dlq.detail"].decode()
    assert dict(dlq.headers)["dlq.reason"] == b"scoring_error"
    assert f"{FEATURES[0]!r} = 1e+300 is too large" in detail
    assert reg.get_sample_value("dhag_records_processed_total", {"outcome": "invalid"}) == 3
    assert reg.get_sample_value("dhag_records_processed_total", {"outcome": "error"}) == 0
    assert caplog.text.count("row by row") <= 1 and "Traceback" not in caplog.text  # a line a minute


def test_readings_near_float32s_limit_dead_letter_only_the_row_the_model_overflows_on(fitted, caplog) -> None:
    # A row the network overflows on was scored NaN and reported as normal; now it is refused, and
    # its batch is scored row by row so that it costs only itself. A row that scores (the maximum)
    # opened its alert only if explaining it did not overflow: when it did, the batch raised, and the
    # anomaly went to the DLQ as a processing error instead of alerting.
    from pipeline.poison import process_guarded

    proc, reg = _processor(fitted, open_after=1, window=1, top_sensors=len(FEATURES))
    overflows, (flagged, j) = near_float32_limit(fitted)
    rows = normal(np.random.default_rng(10), 4)
    recs = [Rec("in", 0, i, b"n", reading("n", float(i), r)) for i, r in enumerate(rows)]
    recs.insert(1, Rec("in", 0, 50, b"o", reading("o", 1.0, overflows)))
    recs.insert(3, Rec("in", 0, 51, b"f", reading("f", 1.0, flagged)))
    with caplog.at_level(logging.WARNING):
        out = process_guarded(proc, recs, now=0.0)
    assert (out.scored, out.dead_lettered, out.opened) == (5, 1, 1)
    (dlq,) = [m for m in out.messages if m.topic == "sensor-readings.dlq"]
    headers = dict(dlq.headers)
    assert (headers["dlq.reason"], headers["dlq.source.offset"]) == (b"scoring_error", b"50")
    assert b"the network overflows float32 on its values" in headers["dlq.detail"]
    assert reg.get_sample_value("dhag_records_processed_total", {"outcome": "invalid"}) == 1
    assert reg.get_sample_value("dhag_records_processed_total", {"outcome": "ok"}) == 5
    (alert,) = [orjson.loads(m.value) for m in out.messages if m.topic == "anomaly-alerts"]
    assert alert["asset_id"] == "f" and alert["score"] > alert["threshold"]
    *known, unknown = alert["top_sensors"]  # resetting it overflows: its contribution is unknown
    assert (unknown["sensor"], unknown["contribution"]) == (FEATURES[j], None)
    assert all(isinstance(s["contribution"], float) for s in known)
    assert "Traceback" not in caplog.text
