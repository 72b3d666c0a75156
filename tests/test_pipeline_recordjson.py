"""The retrainer samples what the daemon scores: the two read a sensor record alike."""

from __future__ import annotations

import json
import re
import time

import pytest

from pipeline.recordjson import reading_of
from pipeline.records import RecordParser
from pipeline.retrain.featuremap import FeatureMap

FEATURES = ["a", "b"]
AHEAD = '{"asset_id": "p1", "ts": TS, "values": {"a": 1, "b": 2}}'
BASE = '{"asset_id": "p1", "ts": 1795947300, "values": {%s}}'
CASES = {
    "valid": BASE % '"a": 1, "b": 2',
    "NaN in a sensor the model does not read": BASE % '"a": 1, "b": 2, "spare": NaN',
    "Infinity in a sensor the model does not read": BASE % '"a": 1, "b": 2, "spare": -Infinity',
    "a number past float64 in a spare sensor": BASE % ('"a": 1, "b": 2, "spare": 1' + "0" * 400),
    "a string in a spare sensor": BASE % '"a": 1, "b": 2, "mode": "auto"',
    "NaN in a model sensor": BASE % '"a": NaN, "b": 2',
    "a string in a model sensor": BASE % '"a": "1.0", "b": 2',
    "a boolean in a model sensor": BASE % '"a": true, "b": 2',
    "a model sensor missing": BASE % '"a": 1',
    "a model sensor null": BASE % '"a": 1, "b": null',
    "padded past the size limit": BASE % ('"a": 1, "b": 2, "pad": "' + "x" * 300 + '"'),
    "not JSON": '{"asset_id": "p1"',
    "an asset id the pattern refuses": '{"asset_id": "p 1", "ts": 1795947300, "values": {"a": 1, "b": 2}}',
    "epoch milliseconds": '{"asset_id": "p1", "ts": 1795947300000, "values": {"a": 1, "b": 2}}',
    "schema 1": '{"schema": 1, "asset_id": "p1", "ts": 1795947300, "values": {"a": 1, "b": 2}}',
    "schema 2": '{"schema": 2, "asset_id": "p1", "ts": 1795947300, "values": {"a": 1, "b": 2}}',
    "schema true": '{"schema": true, "asset_id": "p1", "ts": 1795947300, "values": {"a": 1, "b": 2}}',
    "an hour ahead of the clock": AHEAD.replace("TS", str(int(time.time()) + 3600)),
    "a minute ahead of the clock": AHEAD.replace("TS", str(int(time.time()) + 60)),
}
ENCODINGS = {"utf-8": lambda t: t.encode(), "utf-8 with BOM": lambda t: b"\xef\xbb\xbf" + t.encode()}
ENCODINGS["utf-16"] = lambda t: t.encode("utf-16")


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("case", CASES)
def test_the_retrainer_samples_a_record_exactly_when_the_daemon_scores_it(case: str, encoding: str) -> None:
    raw = ENCODINGS[encoding](CASES[case])
    parser = RecordParser(FEATURES, max_record_bytes=256, max_future_s=300.0)
    scored = parser.parse([raw]).indices == [0]
    reading = reading_of(raw, re.compile(parser._asset_re.pattern), max_bytes=256, max_future_s=300.0)
    sampled = reading is not None and bool(
        FeatureMap(FEATURES, None).matrix([(reading[0], reading[2])])[1][0]
    )
    assert sampled == scored, (case, encoding)
    if scored:
        assert (
            reading is not None
            and [reading[2][f] for f in FEATURES] == parser.parse([raw]).matrix[0].tolist()
        )
    json.dumps(reading)  # what is sampled is plain JSON again (the store keeps it so)


def test_an_integer_of_more_digits_than_python_converts_is_a_value_not_a_record_that_is_not_json() -> None:
    # Before: json.loads refused the whole record ("Exceeds the limit (4300 digits)"): dead-lettered as
    # not_json even when the number sat in a sensor the model does not read.
    huge = "9" * 5000
    parser = RecordParser(FEATURES, max_record_bytes=65536, max_future_s=300.0)
    spare, used = (
        (BASE % f'"a": 1, "b": 2, "spare": {huge}').encode(),
        (BASE % f'"a": -{huge}, "b": 2').encode(),
    )
    parsed = parser.parse([spare, used])
    assert parsed.indices == [0] and parsed.matrix[0].tolist() == [1.0, 2.0]
    assert [(r.index, str(r.reason)) for r in parsed.rejections] == [(1, "non_finite")]
    assert reading_of(spare, max_bytes=65536) == ("p1", 1795947300.0, {"a": 1.0, "b": 2.0})
