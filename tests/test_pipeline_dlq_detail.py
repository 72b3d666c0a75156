"""A dead letter's ``dlq.detail`` header is cut to its byte limit at a character boundary: a detail that
quotes a record's long non-ASCII sensor names stays readable UTF-8. A record that is not UTF-8 is told so."""

from __future__ import annotations

from collections import namedtuple

import orjson
import pytest
from plant_data import FEATURES
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value timestamp timestamp_type")


@pytest.mark.parametrize("name", ["é" * 700, "xé" * 400, "€" * 500, "x€" * 400])
def test_a_long_detail_is_cut_at_a_character_boundary(fitted, name: str) -> None:
    proc = BatchProcessor(Settings(), fitted, "v1", PipelineMetrics(CollectorRegistry()))
    values = dict.fromkeys(FEATURES[:-1], 1.0) | {name: 1.0}  # the model's last sensor is missing
    raw = orjson.dumps({"asset_id": "p1", "ts": 1.0, "values": values})
    out = proc.process([Rec("in", 0, 0, b"p1", raw, -1, 0)], now=0.0)
    (letter,) = [m for m in out.messages if m.topic == proc.dlq_topic]
    detail = dict(letter.headers)["dlq.detail"]
    assert 900 < len(detail) <= 1000
    text = detail.decode("utf-8")  # before, the cut could split a character: invalid UTF-8
    assert text.startswith(f"sensor(s) '{FEATURES[-1]}' missing") and name[:50] in text


@pytest.mark.parametrize(
    ("encode", "byte"),
    [
        (lambda text: text.encode("latin-1"), "0xe9"),
        (lambda text: text.encode("cp1252"), "0xe9"),
        # A surrogate written in UTF-8's form (CESU-8, Java's "modified UTF-8"): no UTF-8 byte sequence.
        (lambda text: text.replace("é", "\ud800").encode("utf-8", "surrogatepass"), "0xed"),
    ],
    ids=["Latin-1", "Windows-1252", "an encoded surrogate"],
)
def test_a_record_in_another_encoding_is_dead_lettered_naming_the_byte(fitted, encode, byte) -> None:
    # Before: the detail was the codec's own words, "'utf-8' codec can't decode byte 0xe9 in position 46:
    # invalid continuation byte" (or, for the surrogate, "can't encode character '\ud800'").
    proc = BatchProcessor(Settings(), fitted, "v1", PipelineMetrics(CollectorRegistry()))
    text = '{"asset_id": "p1", "ts": 1.0, "note": "Pumpe défekt", "values": {}}'
    raw = encode(text)
    out = proc.process([Rec("in", 0, 0, b"p1", raw, -1, 0)], now=0.0)
    (letter,) = [m for m in out.messages if m.topic == proc.dlq_topic]
    headers = dict(letter.headers)
    assert headers["dlq.reason"] == b"not_json" and letter.value == raw
    position = text.index("é")
    assert headers["dlq.detail"].decode() == (
        f'the value is not UTF-8 text: byte {byte} at position {position} (after \'"note": "Pumpe d\'): '
        "the contract takes JSON in UTF-8"
    )


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (
            b'{"asset_id": "p1", "ts": 1.0, "values": {"flow": "ab\\ud800"}}',
            "field 'values.flow' holds a lone UTF-16 surrogate ('\\ud800' at character 2)",
        ),
        (
            b'{"asset_id": "p1", "ts": 1.0, "values": {}, "notes": ["ok", "\\udc00x"]}',
            "field 'notes[1]' holds a lone UTF-16 surrogate ('\\udc00' at character 0)",
        ),
        (
            b'{"asset_id": "p1", "ts": 1.0, "values": {"t\\ud83d": 1.0}}',
            "the name of a field in 'values' holds a lone UTF-16 surrogate ('\\ud83d' at character 1)",
        ),
    ],
    ids=["a sensor value", "in a list", "a field name"],
)
def test_a_record_with_a_lone_surrogate_is_dead_lettered_naming_the_field(
    fitted, raw: bytes, said: str
) -> None:
    # Before: the detail was the codec's own words, "'utf-8' codec can't encode character '\ud800' in
    # position 2: surrogates not allowed", naming neither the field nor what is wrong with it.
    proc = BatchProcessor(Settings(), fitted, "v1", PipelineMetrics(CollectorRegistry()))
    out = proc.process([Rec("in", 0, 0, b"p1", raw, -1, 0)], now=0.0)
    (letter,) = [m for m in out.messages if m.topic == proc.dlq_topic]
    headers = dict(letter.headers)
    assert headers["dlq.reason"] == b"not_json" and letter.value == raw
    detail = headers["dlq.detail"].decode()
    assert detail.startswith(said) and "half of a character beyond U+FFFF" in detail, detail
    assert "codec" not in detail
