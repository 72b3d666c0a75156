"""A record's ts: the ISO-8601 forms the contract takes and the numbers it refuses, each named."""

from __future__ import annotations

import pytest
from test_pipeline_records import FEATURES, rec

from pipeline.records import Reason, RecordParser, parse_timestamp


@pytest.mark.parametrize(
    "ts",
    [
        "20261129",
        "2026-W48-7",
        "2026-333",
        "2026-11-29",
        "20261129T101500Z",
        "2026-11-29T10",
        "2026-W48-7T10:15",
    ],
)
def test_an_iso_form_other_than_a_date_and_time_of_day_is_refused_naming_the_forms_taken(ts: str) -> None:
    # Before: the basic, week and ordinal forms and a date alone were read as midnight UTC (or the hour),
    # and scored as such: a gateway that writes them almost surely means another time.
    for fast in (True, False):
        [rejection] = RecordParser(FEATURES).parse([rec(ts=ts)], fast=fast).rejections
        assert rejection.reason == Reason.BAD_TIMESTAMP
        assert rejection.detail.startswith(f"ts {ts!r}"), rejection.detail
        assert "YYYY-MM-DDThh:mm[:ss[.fff]]" in rejection.detail and "Z, ±hh:mm" in rejection.detail


@pytest.mark.parametrize(
    ("ts", "seconds"),
    [
        ("2026-11-29T10:15:00.250Z", 1795947300.25),
        ("2026-11-29T10:15:00,250Z", 1795947300.25),
        ("2026-11-29 10:15:00Z", 1795947300.0),
        ("2026-11-29T10:15Z", 1795947300.0),
        ("2026-11-29T11:15:00+01:00", 1795947300.0),
        ("2026-11-29T11:15:00+0100", 1795947300.0),
        ("2026-11-29T10:15:00", 1795947300.0),
    ],
)
def test_a_date_and_time_of_day_is_read_with_its_offset_or_as_utc(ts: str, seconds: float) -> None:
    assert parse_timestamp(ts) == seconds


@pytest.mark.parametrize(
    ("ts", "words"),
    [
        # Before: each said "is outside 1970 to year 5138 (epoch milliseconds are not accepted)".
        (b"NaN", "ts nan is not a finite number of epoch seconds"),
        (b"-Infinity", "ts -inf is not a finite number of epoch seconds"),
        (b"1e400", "ts inf is not a finite number of epoch seconds"),
        (b"-5", "ts -5 lies before 1970 (epoch seconds count from 1970-01-01T00:00:00Z)"),
        (b"1795947300000", "ts 1795947300000 lies beyond year 5138: epoch milliseconds? ts takes seconds"),
    ],
)
def test_a_ts_number_out_of_range_is_told_what_is_wrong_with_it(ts: bytes, words: str) -> None:
    raw = b'{"asset_id":"p","ts":' + ts + b',"values":{"flow_a":1,"flow_b":1,"vibration":1}}'
    [rejection] = RecordParser(FEATURES).parse([raw]).rejections
    assert rejection.reason == Reason.BAD_TIMESTAMP
    assert rejection.detail.startswith(words), rejection.detail


@pytest.mark.parametrize(
    ("ts", "read"),
    [
        (b"20261129101500", "2026-11-29T10:15:00 written as YYYYMMDDhhmmss"),
        (b"20261129101500.0", "2026-11-29T10:15:00 written as YYYYMMDDhhmmss"),
        (b"202611291015", "2026-11-29T10:15:00 written as YYYYMMDDhhmm"),
        (b'"20261129101500"', "2026-11-29T10:15:00 written as YYYYMMDDhhmmss"),
    ],
)
def test_a_date_and_time_typed_as_a_number_is_told_so_and_how_to_write_it(ts: bytes, read: str) -> None:
    # Before: "lies beyond year 5138: epoch milliseconds? ts takes seconds (divide by 1000)", which
    # gives a time in the year 2612 (as text: "epoch seconds go as a JSON number").
    raw = b'{"asset_id":"p","ts":' + ts + b',"values":{"flow_a":1,"flow_b":1,"vibration":1}}'
    for fast in (True, False):
        [rejection] = RecordParser(FEATURES).parse([raw], fast=fast).rejections
        assert rejection.reason == Reason.BAD_TIMESTAMP
        detail = rejection.detail
        assert f"is a date typed as a number: it reads as {read}, not as epoch seconds" in detail, detail
        assert "milliseconds" not in detail and "1000" not in detail and "JSON number" not in detail
        assert "write it as ISO-8601 text, 2026-11-29T10:15:00Z (UTC; a local time with its offset" in detail
        assert detail.endswith("or as a number of epoch seconds, 1795947300 if it is UTC"), detail


def test_a_date_typed_as_eight_digits_is_still_read_as_a_time_of_1970() -> None:
    # Eight digits are epoch seconds of 1970 (a device clock reset): read, and counted as misdated.
    assert parse_timestamp(20261129) == 20261129.0
    parsed = RecordParser(FEATURES).parse([rec(ts=20261129)])
    assert not parsed.rejections and list(parsed.timestamps) == [20261129.0]
