"""The record contract's results: why a record went to the DLQ (:class:`Reason`), a record refused
(:class:`Rejection`) and a parsed batch (:class:`ParsedBatch`); :mod:`pipeline.records` re-exports them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np

__all__ = ["DLQ_REASONS", "PROCESSING_ERROR", "SCORING_ERROR", "ParsedBatch", "Reason", "Rejection", "joined"]


class Reason(StrEnum):
    """Why a record went to the DLQ (the ``reason`` header; a bounded metric label)."""

    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    MISSING_VALUE = "missing_value"
    NON_FINITE = "non_finite"
    OVERSIZED = "oversized"
    BAD_ASSET_ID = "bad_asset_id"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_SCHEMA = "unknown_schema"
    DUPLICATE_FIELD = "duplicate_field"


# The DLQ reasons beyond the record contract's: the model refused a valid row, or the service itself
# raised on a record (pipeline.poison).
SCORING_ERROR = "scoring_error"
PROCESSING_ERROR = "processing_error"
DLQ_REASONS = (*(r.value for r in Reason), SCORING_ERROR, PROCESSING_ERROR)


@dataclass(frozen=True)
class Rejection:
    """One record that cannot be scored: its position in the batch, the reason and a short detail; for a
    record refused only for lying ahead (``records.max_future_s``), its asset and ``ts`` (``ahead``)."""

    index: int
    reason: Reason
    detail: str
    ahead: tuple[str, float] | None = None


@dataclass
class ParsedBatch:
    """The scorable part of a batch plus the rejections; ``indices`` are positions in the input."""

    indices: list[int] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)
    timestamps: np.ndarray = field(default_factory=lambda: np.empty(0))
    kafka_time: Callable[[], float | None] | None = None  # what the ts were judged against besides the clock
    matrix: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    values: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    imputed: int = 0
    unknown_sensors: int = 0


def joined(parts: Sequence[tuple[int, ParsedBatch]], width: int) -> ParsedBatch:
    """One batch of consecutive ``parts``, each ``(its first record's position, its parsed batch)``;
    ``width``: the features of a row.

    >>> a = ParsedBatch([1], ["p1"], np.array([5.0]), matrix=np.ones((1, 2)), values=[{}], unknown_sensors=1)
    >>> b = ParsedBatch(rejections=[Rejection(0, Reason.NOT_JSON, "oops")], imputed=2)
    >>> out = joined([(0, a), (2, b)], width=2)
    >>> out.indices, out.matrix.shape, out.rejections[0].index, out.imputed, out.unknown_sensors
    ([1], (1, 2), 2, 2, 1)
    """
    out = ParsedBatch()
    for start, part in parts:
        out.indices += [start + i for i in part.indices]
        out.asset_ids += part.asset_ids
        out.values += part.values
        out.rejections += [replace(r, index=start + r.index) for r in part.rejections]
        out.imputed += part.imputed
        out.unknown_sensors += part.unknown_sensors
    out.timestamps = np.concatenate([part.timestamps for _, part in parts])
    out.matrix = np.concatenate([part.matrix.reshape(-1, width) for _, part in parts]).reshape(-1, width)
    return out
