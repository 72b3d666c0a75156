"""Numbers in a label are read as the sensor records read them (:func:`pipeline.recordjson.decode`): one
too large for a double is infinite, and the label's own validation says what that means for it, rather
than the whole label dead-lettered as not JSON."""

from __future__ import annotations

import pytest

from pipeline.labels import LabelError, LabelReason, parse_label
from pipeline.recordjson import reading_of

_BY_READING = b'{"asset_id": "p1", "label": "normal", "operator": "kim", "ts": 100, "values": {"x": %s}}'
_BY_ID = b'{"alert_id": "a1", "label": "normal", "operator": "kim", "ts": %s%s}'


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"9" * 5000, b"-" + b"9" * 5000, b"NaN"])
def test_a_sensor_value_no_double_holds_is_a_non_finite_value_not_json_that_is_refused(number: bytes) -> None:
    raw = _BY_READING % number
    # A sensor record holding that number is read, the value as a non-finite one (left out).
    record = b'{"asset_id": "p1", "ts": 100, "values": {"x": %s, "y": 1}}' % number
    assert reading_of(record) == ("p1", 100.0, {"y": 1.0})
    with pytest.raises(LabelError) as caught:
        parse_label(raw)
    assert caught.value.reason == LabelReason.BAD_VALUE  # before: not_json
    assert caught.value.detail.startswith("values: sensor 'x' has a non-finite value")


@pytest.mark.parametrize("number", [b"1e400", b"9" * 5000])
def test_a_time_no_double_holds_is_refused_as_a_bad_time(number: bytes) -> None:
    with pytest.raises(LabelError) as caught:
        parse_label(_BY_ID % (number, b""))
    assert caught.value.reason == LabelReason.BAD_VALUE  # before: not_json
    assert caught.value.detail.startswith("ts: ts inf is not a finite number of epoch seconds")


def test_a_number_no_double_holds_in_a_field_the_contract_does_not_name_is_ignored_with_it() -> None:
    # A sensor record takes such a number in a field it does not read; so does a label now.
    label = parse_label(_BY_ID % (b"100", b', "console": 1e400'))
    assert label.label == "normal" and label.ignored_fields == ("console",)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"alert_id": "a1", "label": "normal", ',
        b"[" * 100_000,  # nested past the recursion limit
        b'{"alert_id": "a1", "label": "normal", "operator": "\\ud800", "ts": 1}',  # a lone surrogate
    ],
)
def test_what_the_records_refuse_as_not_json_is_still_not_json(raw: bytes) -> None:
    with pytest.raises(LabelError) as caught:
        parse_label(raw, max_bytes=1_048_576)
    assert caught.value.reason == LabelReason.NOT_JSON


@pytest.mark.parametrize("field", ["ts", "labelled_at"])
def test_a_label_time_typed_as_a_date_number_is_told_so_not_to_divide_by_1000(field: str) -> None:
    # Before: "lies beyond year 5138: epoch milliseconds? ts takes seconds (divide by 1000)".
    raw = b'{"asset_id": "p1", "label": "normal", "operator": "kim", "values": {"x": 1}, ' + (
        b'"ts": 20261129101500}' if field == "ts" else b'"ts": 100, "labelled_at": 20261129101500}'
    )
    with pytest.raises(LabelError) as caught:
        parse_label(raw)
    assert caught.value.reason == LabelReason.BAD_VALUE
    detail = caught.value.detail
    assert detail.startswith(
        f"{field}: {field} 20261129101500 is a date typed as a number: it reads as 2026-11-29"
    )
    assert "milliseconds" not in detail and "ISO-8601 text" in detail


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (b'"yesterday"', "labelled_at 'yesterday' is not an ISO-8601 time: write YYYY-MM-DD"),
        (b'"1796391705"', "labelled_at '1796391705' is not an ISO-8601 time: epoch seconds go as a JSON"),
        (b'"2026-W48-7"', "labelled_at '2026-W48-7' is an ISO-8601 form not taken"),
        (b'"0001-01-01T00:00Z"', "labelled_at '0001-01-01T00:00Z' is outside 1970 to year 5138"),
        (b"-5", "labelled_at -5 lies before 1970"),
        (b"1e400", "labelled_at inf is not a finite number of epoch seconds"),
        (
            b"1e13",
            "labelled_at 10000000000000.0 lies beyond year 5138: epoch milliseconds? labelled_at takes",
        ),
        (b"true", "labelled_at must be an ISO-8601 string or epoch seconds, got bool"),
    ],
)
def test_a_bad_labelled_at_is_refused_naming_labelled_at(given: bytes, said: str) -> None:
    # Before, the time checker called every time it checked ts: "labelled_at: ts 'yesterday' is ...".
    raw = b'{"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 100, "labelled_at": %s}' % given
    with pytest.raises(LabelError) as caught:
        parse_label(raw)
    assert caught.value.field == "labelled_at"
    assert caught.value.detail.startswith(f"labelled_at: {said}"), caught.value.detail
    assert " ts " not in caught.value.detail
