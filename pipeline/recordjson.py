"""The JSON side of the sensor-record contract: decoding a value as the daemon decodes it, its
timestamp (:mod:`pipeline.recordts`), and the reading the retrainer samples (:func:`reading_of`), so
that both services read a record alike.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson

from pipeline.recordts import MAX_EPOCH_S, TS_FORMS, iso_refusal, iso_seconds, parse_timestamp

__all__ = [
    "MAX_EPOCH_S",
    "TS_FORMS",
    "decode",
    "iso_refusal",
    "iso_seconds",
    "is_schema_1",
    "maybe_repeated",
    "parse_timestamp",
    "reading_of",
    "repeated_fields",
]


def _integer(text: str) -> int | float:
    """A JSON integer; one of more digits than Python converts (``sys.get_int_max_str_digits``, 4,300 by
    default) as the float it rounds to, infinite: a value the value policy handles, as it does a long
    number orjson reads, rather than a whole record refused as not JSON.

    >>> _integer("-12"), _integer("9" * 5000)
    (-12, inf)
    """
    limit = sys.get_int_max_str_digits()
    return float(text) if limit and len(text.lstrip("-")) > limit else int(text)


def decode(raw: bytes) -> Any:
    """The JSON document in ``raw``; a ``ValueError`` (so: not JSON) for anything else.

    >>> decode(b'{"a": NaN}')["a"]
    nan
    >>> for bad in (b"[" * 100_000, b'{"a": {"b": "x\\\\ud800"}, "c": NaN}'):
    ...     try:
    ...         decode(bad)
    ...     except ValueError as exc:
    ...         print(str(exc).partition(", half")[0])
    JSON nested too deeply
    field 'a.b' holds a lone UTF-16 surrogate ('\\ud800' at character 1)
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    # The stdlib also reads NaN, Infinity and out-of-range numbers, which the value policy then
    # handles, instead of rejecting the whole record as not JSON. It also reads what orjson rightly
    # refuses: UTF-16 and UTF-32 text (the contract is UTF-8, as RFC 8259 has JSON between systems),
    # surrogates written in UTF-8's form, nesting past Python's recursion limit, and lone surrogates
    # ("\ud800"), strings no UTF-8 writer (the DLQ's, an alert's) can encode. All are not JSON here;
    # text that is not UTF-8 is told so, with its first byte that is not.
    _refuse_wide(raw)
    try:
        doc = json.loads(raw, parse_int=_integer)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if (where := _lone_surrogate(doc)) is not None:
        raise ValueError(
            f"{where}, half of a character beyond U+FFFF and no text: write the character, or both "
            "halves (\\ud83d\\ude00)"
        )
    return doc


_SURROGATE = re.compile("[\ud800-\udfff]")  # left in a decoded string only where its other half was not


def _lone_surrogate(doc: Any) -> str | None:
    """Which string of the decoded JSON ``doc`` holds a lone surrogate, and where in it, in words (the
    field as ``values.flow`` or ``notes[1]``, or the name of a field); None when none does."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str) and (found := _SURROGATE.search(item)):
            return f"{f'field {path!r}' if path else 'the value'} holds {_surrogate_at(found)}"
        if isinstance(item, dict):
            if odd := next((m for m in map(_SURROGATE.search, item) if m), None):
                return f"the name of a field{f' in {path!r}' if path else ''} holds {_surrogate_at(odd)}"
            stack.extend((f"{path}.{k}" if path else k, v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


def _surrogate_at(found: re.Match[str]) -> str:
    return f"a lone UTF-16 surrogate ({found.group()!r} at character {found.start()})"


def _refuse_wide(raw: bytes) -> None:
    """Raise ``ValueError`` when ``raw`` is not UTF-8 text: naming the encoding of UTF-16 or UTF-32 text
    (with a byte-order mark or without: told by its zero bytes, as the stdlib's reader tells it), else the
    first byte that is not UTF-8 (Latin-1 text, a surrogate written in UTF-8's form), with its position.

    >>> for raw in ('{"a": 1}'.encode("utf-16"), '{"a": "é"}'.encode("latin-1")):
    ...     try:
    ...         _refuse_wide(raw)
    ...     except ValueError as exc:
    ...         print(str(exc)[:61])
    the value is UTF-16 text (first bytes ff fe 7b 00), not UTF-8
    the value is not UTF-8 text: byte 0xe9 at position 7 (after '
    """
    encoding = json.detect_encoding(raw)
    wanted = "the contract takes JSON in UTF-8"
    if encoding.startswith("utf-8"):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = raw[max(exc.start - 16, 0) : exc.start].decode("utf-8", "ignore")
            raise ValueError(
                f"the value is not UTF-8 text: byte 0x{raw[exc.start]:02x} at position {exc.start}"
                f" (after {before!r}): {wanted}"
            ) from None
        return
    first = raw[:4].hex(" ")
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        raise ValueError(f"the value is not UTF-8 text (first bytes {first}): {wanted}") from None
    raise ValueError(f"the value is {encoding[:6].upper()} text (first bytes {first}), not UTF-8: {wanted}")


class _Object(dict):
    """A JSON object as :func:`repeated_fields` reads it: with the keys its text gives more than once."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        obj.repeated = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def maybe_repeated(text: bytes, colons: int) -> bool:
    """Whether the JSON ``text`` may give a key twice in the objects it was read into, which write
    ``colons`` colons as their text does when it gives each key once: False only when sure it does not.
    Without a backslash every colon of the text is in it as written: one after each key of any object,
    and those inside its strings. A key given twice is one colon more than its object holds, and so is
    an object not counted (nested deeper) or a colon in a string not counted: :func:`repeated_fields`
    then decides.
    """
    return b"\\" in text or _colons(text) != colons


def _colons(text: bytes, step: int = 1 << 16) -> int:
    """How many colons ``text`` holds. On a batch's joined values (1.5 MB for 5,000 plant records)
    numpy counts them a piece at a time in a third of ``bytes.count``'s time (comparing the whole text at
    once fills a fresh buffer of its size, which costs more than it saves); on one record's few hundred
    bytes ``bytes.count`` is the quicker.

    >>> _colons(b'{"a": 1}'), _colons(b'{"a":"b:c"} ' * 30_000)
    (1, 60000)
    """
    if len(text) < step:
        return text.count(b":")
    data, hits = np.frombuffer(text, np.uint8), np.empty(step, bool)
    count = 0
    for start in range(0, len(data), step):
        piece = data[start : start + step]
        count += int(np.count_nonzero(np.equal(piece, ord(":"), out=hits[: len(piece)])))
    return count


def repeated_fields(raw: bytes, doc: Mapping[str, Any]) -> list[str]:
    """The keys that the record ``raw`` (``doc``, as :func:`decode` read it) gives more than once: its
    fields (``asset_id``) and the sensors of its ``values`` (``values.flow_m3h``). A JSON reader
    keeps one of them without a word, so which value the sender meant cannot be told.

    >>> repeated_fields(b'{"a": 1, "values": {"b": 2, "b": 3}, "a": 4}', {"a": 4, "values": {"b": 3}})
    ['a', 'values.b']
    """
    values = doc.get("values")
    values = values if isinstance(values, dict) else {}
    keys = len(doc) + len(values)
    # The colons after the keys first: most records write no other (an ISO ts writes two).
    if not maybe_repeated(raw, keys):
        return []
    texts = [*doc, *values, *(v for v in doc.values() if type(v) is str)]
    if not maybe_repeated(raw, keys + "".join(texts).count(":")):
        return []
    try:
        exact = json.loads(raw, object_pairs_hook=_object, parse_int=_integer)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    inner = exact.get("values")
    return [*exact.repeated, *(f"values.{name}" for name in getattr(inner, "repeated", ()))]


def reading_of(
    raw: bytes | None,
    asset_re: re.Pattern[str] | None = None,
    max_bytes: int | None = None,
    max_future_s: float | None = None,
    kafka_time: Callable[[], float | None] | None = None,
) -> tuple[str, float, dict[str, float]] | None:
    """``(asset_id, ts, values)`` of a sensor record the daemon would read (decoded as it decodes, no
    larger than ``max_bytes``, an asset id that ``asset_re`` matches, schema 1, dated no more than
    ``max_future_s`` ahead of this machine's clock, or of ``kafka_time`` when that is later: the
    batch's Kafka record time, asked only for a ``ts`` ahead of the clock), else None: the retrainer's
    normal sample skips what the daemon dead-letters. ``values`` keeps the finite numbers; a sensor that is
    not one counts as missing, so the reading is left out of a model that needs that sensor, as the
    daemon refuses it.

    >>> reading_of(b'{"asset_id": "pump-01", "ts": 1795947300, "values": {"flow_m3h": 12.5}}')
    ('pump-01', 1795947300.0, {'flow_m3h': 12.5})
    >>> bom = b"\\xef\\xbb\\xbf"
    >>> reading_of(bom + b'{"asset_id": "p1", "ts": 1795947300, "values": {"a": 1, "b": NaN, "c": "on"}}')
    ('p1', 1795947300.0, {'a': 1.0})
    >>> reading_of(b'{"asset_id": "pump 1", "ts": 1795947300, "values": {}}', re.compile(r"\\S+")) is None
    True
    """
    if raw is None or (max_bytes is not None and len(raw) > max_bytes):
        return None
    try:
        data = decode(raw)
        asset, values = data["asset_id"], data["values"]
        ts = parse_timestamp(data["ts"])
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None
    if not isinstance(asset, str) or not isinstance(values, dict) or not is_schema_1(data):
        return None
    try:
        if repeated_fields(raw, data):
            return None
    except ValueError:
        return None
    if max_future_s is not None and ts > time.time() + max_future_s:
        later = kafka_time() if kafka_time is not None else None
        if later is None or ts > later + max_future_s:
            return None
    if asset_re is not None and not asset_re.fullmatch(asset):
        return None
    clean = {}
    for name, value in values.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                continue
            if math.isfinite(number):
                clean[str(name)] = number
    return asset, ts, clean


def is_schema_1(doc: Mapping[str, Any]) -> bool:
    """Whether a record (or an alert event) is of the one schema this service reads: ``schema`` 1, or
    none given."""
    schema = doc.get("schema", 1)
    return schema == 1 and not isinstance(schema, bool)
