"""The sensor-record contract: decode a batch of Kafka values, validate it, build the feature matrix.

A record is a JSON object ``{"asset_id": str, "ts": ISO-8601 string or epoch seconds, "values": {sensor:
number}}``. The model's feature list decides which sensors are read and in which order; other sensors
are ignored and counted. Anything else is rejected with a :class:`Reason` and a detail for the DLQ.

Batches take a fast path when every record is well formed (a few C-level passes over the whole batch);
else each chunk of :attr:`RecordParser.chunk` records takes it, and a chunk holding a bad record falls
back to checking record by record, which is also the reference the fast path is tested against.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

from pipeline.backoff import ThrottledLog
from pipeline.deadletter import DLQ_VALUE_LIMIT, dlq_detail, dlq_value
from pipeline.kafkatime import KafkaTime, broker_time
from pipeline.recordjson import (
    MAX_EPOCH_S,
    decode,
    is_schema_1,
    maybe_repeated,
    parse_timestamp,
    reading_of,
    repeated_fields,
)
from pipeline.recordtypes import (
    DLQ_REASONS,
    PROCESSING_ERROR,
    SCORING_ERROR,
    ParsedBatch,
    Reason,
    Rejection,
    joined,
)

__all__ = [
    "DLQ_REASONS",
    "DLQ_VALUE_LIMIT",
    "PROCESSING_ERROR",
    "SCORING_ERROR",
    "ParsedBatch",
    "Reason",
    "RecordParser",
    "Rejection",
    "KafkaTime",
    "broker_time",
    "dlq_detail",
    "dlq_value",
    "parse_timestamp",
    "reading_of",
]

log = logging.getLogger(__name__)


_NUMBER = (int, float)


class _RejectedError(Exception):
    def __init__(self, reason: Reason, detail: str, ahead: tuple[str, float] | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.ahead = ahead


class RecordParser:
    """Turn raw Kafka values into a float64 matrix in ``features`` order, plus DLQ rejections.

    ``missing_policy="impute"`` fills a missing, null or non-finite sensor value with its training mean
    from ``means`` (a sensor without a mean, such as a categorical one, is still rejected).

    Example
    -------
    >>> p = RecordParser(["a", "b"])
    >>> out = p.parse([b'{"asset_id": "p1", "ts": 5, "values": {"a": 1, "b": 2.5, "x": 0}}', b"oops"])
    >>> out.matrix.tolist(), out.asset_ids, out.unknown_sensors
    ([[1.0, 2.5]], ['p1'], 1)
    >>> [(r.index, str(r.reason)) for r in out.rejections]
    [(1, 'not_json')]
    """

    #: Records the fast path is tried on again, a chunk at a time, when it refuses a batch.
    chunk = 256

    def __init__(
        self,
        features: Sequence[str],
        means: Mapping[str, float] | None = None,
        *,
        missing_policy: str = "reject",
        max_record_bytes: int = 65_536,
        asset_id_pattern: str = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$",
        max_future_s: float | None = None,
        max_imputed_fraction: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not features:
            raise ValueError("RecordParser needs at least one feature name")
        if missing_policy not in ("reject", "impute"):
            raise ValueError(f"missing_policy must be 'reject' or 'impute', got {missing_policy!r}")
        self.features = list(features)
        self.means = dict(means or {})
        self.missing_policy = missing_policy
        self.max_record_bytes = max_record_bytes
        self.max_future_s = max_future_s
        self.max_imputed = math.floor(max_imputed_fraction * len(self.features) + 1e-9)
        self.clock = clock
        self._kafka_time: Callable[[], float | None] | None = None  # the batch's, while parsing
        self._clock_log = ThrottledLog(log, 60.0)
        self._asset_re = re.compile(asset_id_pattern)
        getter = itemgetter(*self.features)
        self._feature_colons = "".join(self.features).count(":")
        self._row = getter if len(self.features) > 1 else (lambda v: (getter(v),))

    # -- one record: the reference path ----------------------------------------------------------
    def parse_one(self, raw: bytes | None) -> tuple[str, float, list[float], dict[str, Any], int, int]:
        """Validate one value; returns ``(asset_id, ts, row, values, imputed, unknown)`` or raises
        ``_RejectedError`` (use :meth:`parse` for the public, batch-level result)."""
        if raw is None:
            raise _RejectedError(Reason.NOT_JSON, "empty value (tombstone)")
        if len(raw) > self.max_record_bytes:
            raise _RejectedError(Reason.OVERSIZED, f"{len(raw)} bytes > limit {self.max_record_bytes}")
        if not raw.strip():
            space = f"{len(raw)} bytes of white space" if raw else "0 bytes"
            raise _RejectedError(Reason.NOT_JSON, f"empty value ({space})")
        try:
            doc = decode(raw)
            repeated = repeated_fields(raw, doc) if isinstance(doc, dict) else []
        except (ValueError, TypeError) as exc:
            raise _RejectedError(Reason.NOT_JSON, str(exc)[:200]) from None
        if not isinstance(doc, dict):
            raise _RejectedError(Reason.NOT_OBJECT, f"top level is a {type(doc).__name__}, not an object")
        if repeated:
            names = ", ".join(map(repr, repeated[:5]))
            raise _RejectedError(
                Reason.DUPLICATE_FIELD,
                f"{names} given more than once: which of the values is meant is unknown",
            )
        if not is_schema_1(doc):
            schema = doc.get("schema")
            raise _RejectedError(
                Reason.UNKNOWN_SCHEMA, f"schema {schema!r:.40} is not 1, the one this service reads"
            )
        for name in ("asset_id", "ts", "values"):
            if name not in doc:
                has = ", ".join(repr(k)[:40] for k in list(doc)[:8]) or "no field"
                raise _RejectedError(Reason.MISSING_FIELD, f"field {name!r} is missing; the record has {has}")
        asset = doc["asset_id"]
        if not isinstance(asset, str):
            raise _RejectedError(Reason.WRONG_TYPE, f"asset_id must be a string, got {type(asset).__name__}")
        if not self._asset_re.fullmatch(asset):
            shown = repr(asset) if len(asset) <= 80 else f"{asset[:80] + '...'!r} ({len(asset)} characters)"
            pattern = self._asset_re.pattern
            raise _RejectedError(
                Reason.BAD_ASSET_ID, f"asset_id {shown} does not match records.asset_id_pattern {pattern!r}"
            )
        try:
            ts = parse_timestamp(doc["ts"])
        except TypeError as exc:
            raise _RejectedError(Reason.WRONG_TYPE, str(exc)) from None
        except (ValueError, OverflowError, OSError) as exc:
            raise _RejectedError(Reason.BAD_TIMESTAMP, str(exc)[:300]) from None
        if self._ahead(ts):
            now = self.now()
            raise _RejectedError(
                Reason.BAD_TIMESTAMP,
                f"ts {doc['ts']!r:.40} lies {ts - now:.0f} s ahead of this service's clock and the broker's"
                f" record time (more than records.max_future_s = {self.max_future_s:g}; a local time sent"
                " without its UTC offset?)",
                (asset, ts),
            )
        values = doc["values"]
        if not isinstance(values, dict):
            raise _RejectedError(Reason.WRONG_TYPE, f"values must be an object, got {type(values).__name__}")
        row, missing, non_finite, present = [], [], [], 0
        for name in self.features:
            if name in values:
                present += 1
            value = values.get(name)
            if value is None:
                missing.append(name)
                row.append(math.nan)
                continue
            if isinstance(value, bool) or not isinstance(value, _NUMBER):
                raise _RejectedError(
                    Reason.WRONG_TYPE, f"sensor {name!r} must be a number, got {type(value).__name__}"
                )
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                non_finite.append(name)
            row.append(number)
        imputed = 0
        if missing or non_finite:
            bad = missing + non_finite
            no_mean = [n for n in bad if n not in self.means]
            too_many = len(bad) > self.max_imputed
            if self.missing_policy == "reject" or no_mean or too_many:
                named = set(bad if self.missing_policy == "reject" or too_many else no_mean)
                gone, odd = [n for n in missing if n in named], [n for n in non_finite if n in named]
                reason = Reason.MISSING_VALUE if gone else Reason.NON_FINITE
                detail = ", ".join(
                    f"sensor(s) {', '.join(map(repr, names[:5]))} {said}"
                    for names, said in ((gone, "missing"), (odd, "not finite"))
                    if names
                )
                if self.missing_policy == "impute":
                    detail += (
                        f": {len(bad)} of the model's {len(self.features)}, more than the"
                        f" {self.max_imputed} records.max_imputed_fraction lets impute"
                        if too_many
                        else ", with no training mean to impute"
                    )
                if others := [n for n in values if n not in self.features][:3]:
                    detail += (
                        f"; the record has sensors the model does not read: {', '.join(map(repr, others))}"
                    )
                raise _RejectedError(reason, detail)
            for j, name in enumerate(self.features):
                if not math.isfinite(row[j]):
                    row[j] = self.means[name]
            imputed = len(bad)
        return asset, ts, row, values, imputed, len(values) - present

    # -- a batch ---------------------------------------------------------------------------------
    def now(self) -> float:
        """What a ``ts`` is judged against: this host's clock, or the batch's Kafka record time when
        that is later (a host whose clock fell behind must not refuse every fresh reading)."""
        now = self.clock()
        kafka = self._kafka_time() if self._kafka_time is not None else None
        if kafka is None:
            return now
        if self.max_future_s is not None and kafka - now > self.max_future_s:
            self._clock_log.log(
                "behind",
                logging.WARNING,
                "this host's clock is %.0f s behind the Kafka record times: readings' ts are judged"
                " against those; fix the host's time sync (NTP)",
                kafka - now,
            )
        return max(now, kafka)

    def _ahead(self, ts: float) -> bool:
        """Whether ``ts`` lies more than ``max_future_s`` ahead (by the host's clock first: the Kafka
        time is only asked for when that says so)."""
        limit = self.max_future_s
        return limit is not None and ts > self.clock() + limit and ts > self.now() + limit

    def parse(
        self,
        raws: Sequence[bytes | None],
        *,
        fast: bool = True,
        broker_now: float | Callable[[], float | None] | None = None,
    ) -> ParsedBatch:
        """Parse a batch; ``fast=False`` forces the record-by-record path (for tests and comparison).
        ``broker_now``: the batch's Kafka record time, or a function giving it (:class:`KafkaTime`)."""
        self._kafka_time = broker_now if callable(broker_now) or broker_now is None else (lambda: broker_now)
        try:
            batch = self._parse_chunks(raws) if fast else self._parse_slow(raws)
            batch.kafka_time = self._kafka_time
            return batch
        finally:
            self._kafka_time = None

    def _parse_chunks(self, raws: Sequence[bytes | None]) -> ParsedBatch:
        """The fast path on the batch, else on each :attr:`chunk` of it, falling back record by record
        for a chunk it refuses: one bad record costs its chunk the slow path, not the whole batch."""
        if (batch := self._parse_fast(raws)) is not None:
            return batch
        if len(raws) <= self.chunk:
            return self._parse_slow(raws)
        parts = []
        for start in range(0, len(raws), self.chunk):
            part = raws[start : start + self.chunk]
            fast = self._parse_fast(part)
            parts.append((start, fast if fast is not None else self._parse_slow(part)))
        return joined(parts, len(self.features))

    def _parse_slow(self, raws: Sequence[bytes | None]) -> ParsedBatch:
        out = ParsedBatch()
        rows, stamps = [], []
        for i, raw in enumerate(raws):
            try:
                asset, ts, row, values, imputed, unknown = self.parse_one(raw)
            except _RejectedError as rej:
                out.rejections.append(Rejection(i, rej.reason, rej.detail, rej.ahead))
                continue
            out.indices.append(i)
            out.asset_ids.append(asset)
            stamps.append(ts)
            rows.append(row)
            out.values.append(values)
            out.imputed += imputed
            out.unknown_sensors += unknown
        out.timestamps = np.asarray(stamps, dtype=np.float64)
        out.matrix = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(self.features))
        return out

    def _parse_fast(self, raws: Sequence[bytes | None]) -> ParsedBatch | None:
        """All-or-nothing: the parsed batch when every record is well formed, else ``None``."""
        limit = self.max_record_bytes
        try:
            if any(raw is None or len(raw) > limit for raw in raws):
                return None
            docs = [orjson.loads(raw) for raw in raws]
            assets = [doc["asset_id"] for doc in docs]
            stamps = [doc["ts"] for doc in docs]
            values = [doc["values"] for doc in docs]
        except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
            return None
        if set(map(type, docs)) - {dict} or set(map(type, assets)) - {str} or set(map(type, values)) - {dict}:
            return None
        if any("schema" in doc for doc in docs) and not all(map(is_schema_1, docs)):
            return None
        if not all(self._asset_re.fullmatch(a) for a in set(assets)):
            return None
        try:
            rows = [self._row(v) for v in values]
        except KeyError:
            return None
        if set(map(type, chain.from_iterable(rows))) - {float, int}:
            return None
        texts = assets  # the strings whose colons the count must expect: ISO ts texts hold two
        try:
            matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(self.features))
            if set(map(type, stamps)) - {float, int}:
                ts = np.array([parse_timestamp(s) for s in stamps], dtype=np.float64)
                texts = chain(assets, (s for s in stamps if type(s) is str))
            else:
                ts = np.array(stamps, dtype=np.float64)
                if not ((ts >= 0) & (ts < MAX_EPOCH_S)).all():
                    return None
        except (ValueError, TypeError, OverflowError, OSError):
            return None
        if not np.isfinite(matrix).all():
            return None
        # A field or sensor given twice, or a colon the count does not see: parse_one decides.
        sensors = sum(map(len, values))
        colons = sum(map(len, docs)) + sensors + len(docs) * self._feature_colons
        if maybe_repeated(b"".join(raws), colons + "".join(texts).count(":")):
            return None
        if len(ts) and self._ahead(float(ts.max())):
            return None
        unknown = sensors - len(values) * len(self.features)
        return ParsedBatch(
            indices=list(range(len(raws))),
            asset_ids=assets,
            timestamps=ts,
            matrix=matrix,
            values=values,
            unknown_sensors=unknown,
        )
