"""A record that gives a field or a sensor twice is dead-lettered, never scored on one of its values."""

from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.recordjson import reading_of
from pipeline.records import Reason, RecordParser

FEATURES = ["flow_a", "flow_b", "vibration"]
GOOD = b'{"asset_id":"pump-1","ts":1790000000.5,"values":{"flow_a":0.5,"flow_b":-1,"vibration":2.25}}'
REPEATED = {
    # JSON readers keep the last of a repeated key: this one was scored as pump-2's reading.
    "an asset id": (
        GOOD.replace(b'"asset_id":"pump-1"', b'"asset_id":"pump-1","asset_id":"pump-2"'),
        "'asset_id'",
    ),
    "a model sensor": (GOOD.replace(b'"flow_a":0.5', b'"flow_a":0.5,"flow_a":99'), "'values.flow_a'"),
    "the values": (GOOD[:-1] + b',"values":{"flow_a":5,"flow_b":6,"vibration":7}}', "'values'"),
    "the ts": (GOOD.replace(b'"ts":1790000000.5', b'"ts":1790000000.5,"ts":5'), "'ts'"),
    "the schema": (GOOD.replace(b"{", b'{"schema":2,"schema":1,', 1), "'schema'"),
    "a sensor the model does not read": (GOOD.replace(b'"flow_a"', b'"spare":1,"spare":2,"flow_a"'), "spare"),
    "a field written apart": (
        b'{"asset_id": "pump-1", "ts": 1790000000.5,\n "asset_id" : "pump-2", "values": '
        b'{"flow_a": 0.5, "flow_b": -1, "vibration": 2.25}}',
        "'asset_id'",
    ),
    "a key spelt with an escape": (GOOD.replace(b'"flow_b":-1', b'"flow_b":-1,"flow_\\u0061":3'), "flow_a"),
    "NaN beside it (the stdlib reads it)": (
        GOOD.replace(b'"flow_b":-1', b'"flow_b":NaN,"flow_b":-1'),
        "flow_b",
    ),
}


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("case", REPEATED)
def test_a_field_or_sensor_given_twice_is_dead_lettered_naming_it(case: str, fast: bool) -> None:
    raw, named = REPEATED[case]
    out = RecordParser(FEATURES).parse([GOOD, raw, GOOD], fast=fast)
    assert out.indices == [0, 2] and out.asset_ids == ["pump-1", "pump-1"]
    [rejection] = out.rejections
    assert (rejection.index, rejection.reason) == (1, Reason.DUPLICATE_FIELD)
    assert named in rejection.detail and "more than once" in rejection.detail
    # The retrainer samples what the daemon scores: not this one either.
    assert reading_of(raw) is None


NOT_REPEATED = [
    GOOD,
    GOOD.replace(b'"pump-1"', b'"site:a:pump-1"'),  # colons inside text
    GOOD.replace(b"1790000000.5", b'"2026-11-29T10:15:00.250+01:00"'),
    GOOD.replace(b"{", b'{"note":"asset_id: \\"x\\"","meta":{"asset_id":"x","asset_id":"y"},', 1),
    GOOD.replace(b'"flow_a"', b'"mode":"flow_a","list":[{"k":1},{"k":2}],"flow_a"'),
    b'{\n  "asset_id" : "pump-1",\n  "ts" : 1790000000.5,\n'
    b'  "values" : {"flow_a":0.5,"flow_b":-1,"vibration":2.25}\n}',
    b"\xef\xbb\xbf" + GOOD,
]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("raw", NOT_REPEATED)
def test_a_record_that_gives_each_field_once_is_scored_however_it_is_written(raw: bytes, fast: bool) -> None:
    # Text that spells a field's name, a nested object of its own keys, or spacing is no repetition.
    out = RecordParser(FEATURES, asset_id_pattern=r"[\w:.-]+").parse([raw, GOOD], fast=fast)
    assert out.indices == [0, 1] and not out.rejections
    assert out.matrix.tolist() == [[0.5, -1.0, 2.25]] * 2
    assert reading_of(raw, re.compile(r"[\w:.-]+")) is not None


@given(
    st.lists(
        st.sampled_from(["asset_id", "ts", "values", "flow_a", "flow_b", "vibration", "spare"]), max_size=3
    ),
    st.lists(st.booleans(), min_size=1, max_size=8),
)
def test_the_fast_path_finds_every_repetition_the_record_by_record_path_finds(
    twice: list[str], which: list[bool]
) -> None:
    def record(repeat: bool) -> bytes:
        raw = GOOD.replace(b'"flow_a"', b'"spare":1,"flow_a"')
        for name in twice if repeat else ():
            key = b'"%s":' % name.encode()
            start = raw.index(key)
            end = (
                raw.index(b"}", start) + 1
                if name == "values"
                else re.compile(rb"[,}]").search(raw, start).start()
            )
            raw = raw[:start] + raw[start:end] + b"," + raw[start:]
        return raw

    raws = [record(r) for r in which]
    parser = RecordParser(FEATURES)
    fast, slow = parser.parse(raws), parser.parse(raws, fast=False)
    assert fast.indices == slow.indices
    assert [(r.index, r.reason, r.detail) for r in fast.rejections] == [
        (r.index, r.reason, r.detail) for r in slow.rejections
    ]
    expected = [i for i, r in enumerate(which) if not (r and twice)]
    assert fast.indices == expected
    assert all(orjson.loads(raws[i])["asset_id"] == "pump-1" for i in fast.indices)


@pytest.mark.parametrize("ts", [b"1790000000.5", b'"2026-11-29T10:15:00.250Z"'])
def test_a_plant_sized_batch_finds_the_one_repetition_in_it_on_the_bulk_path(ts: bytes, monkeypatch) -> None:
    # A batch of thousands of records is checked for repetitions by counting its colons in bulk (in
    # pieces, past the size one record has): one repeated key anywhere in it is still found, only its
    # chunk is checked record by record, and colons in asset ids and ISO ts texts are no repetition.
    good = GOOD.replace(b"1790000000.5", ts).replace(b'"pump-1"', b'"site:a:pump-1"')
    raws = [good] * 5000
    raws[3210] = good.replace(b'"flow_b":-1', b'"flow_b":-1,"flow_b":7')
    assert len(b"".join(raws)) > 300_000
    parser = RecordParser(FEATURES, asset_id_pattern=r"[\w:.-]+")
    one, slow = parser.parse_one, []
    monkeypatch.setattr(parser, "parse_one", lambda raw: slow.append(1) or one(raw))
    out = parser.parse(raws)
    assert [(r.index, r.reason) for r in out.rejections] == [(3210, Reason.DUPLICATE_FIELD)]
    assert "'values.flow_b'" in out.rejections[0].detail
    assert out.indices == [i for i in range(5000) if i != 3210] and out.matrix.shape == (4999, 3)
    assert len(slow) <= parser.chunk
    bulk = parser._parse_fast
    tries: list[int] = []
    monkeypatch.setattr(parser, "_parse_fast", lambda part: tries.append(len(part)) or bulk(part))
    assert parser.parse([good] * 5000).indices == list(range(5000))
    assert tries == [5000]  # the whole batch at once, not chunk by chunk
