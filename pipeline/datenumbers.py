"""Times typed as numbers: a date or a date and time written as its digits (``20261129``,
``20261129101500``), which a history's ``t`` would otherwise read as epoch seconds.

Twelve or fourteen digits as epoch seconds lie beyond the year 5138 (and twelve, as epoch
milliseconds, in 1973 to 2001): the digits of a calendar time from 1900 to 2199 are what a spreadsheet
or a database export writes for one. Eight digits as epoch seconds are times of 1970 to 1973, which a
real history does not hold, but a clock counting from 0 does (``simulate --history`` writes such times)
and passes through some that are such digits by chance: only a ``t`` whose numbers are all such digits
is a column of dates (:func:`pipeline.historyfile.read_history`). Ten digits (``YYYYMMDDhh``) are
left alone: as epoch seconds they are times from 2001 to 2286, as real ones are."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.recordjson import MAX_EPOCH_S

__all__ = ["as_epoch_seconds", "date_as_number", "dates_as_numbers", "time_of_date_number"]

# Digits, the strptime form, and the form as a user writes it.
_FORMS = (
    (8, "%Y%m%d", "YYYYMMDD"),
    (12, "%Y%m%d%H%M", "YYYYMMDDhhmm"),
    (14, "%Y%m%d%H%M%S", "YYYYMMDDhhmmss"),
)
_YEARS = (1900, 2199)


def _readings(values: np.ndarray, digits: int, form: str) -> tuple[np.ndarray, pd.Series]:
    """The rows of ``values`` that are whole numbers of ``digits`` digits, and each one's reading in
    ``form`` (NaT where it is no calendar time of those years)."""
    low = 10.0 ** (digits - 1)
    with np.errstate(invalid="ignore"):
        here = np.flatnonzero(np.isfinite(values) & (values >= low) & (values < 10 * low) & (values % 1 == 0))
    codes, unique = pd.factorize(values[here])  # each value read once: assets share their times
    read = pd.to_datetime(pd.Series(unique.astype(np.int64).astype(str)), format=form, errors="coerce")
    read = read.where(read.dt.year.between(*_YEARS))
    return here, read.iloc[codes].reset_index(drop=True)


def dates_as_numbers(values: np.ndarray) -> np.ndarray:
    """Which of ``values`` (floats) are the digits of a date, or a date and time, of 1900 to 2199.

    >>> dates_as_numbers(np.array([20261129.0, 20261329.0, 1795947300.0, 20261129101500.0, 2.5e7]))
    array([ True, False, False,  True, False])
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros(values.shape, dtype=bool)
    for digits, form, _ in _FORMS:
        here, read = _readings(values, digits, form)
        out[here] = read.notna().to_numpy()
    return out


def date_as_number(value: float) -> str | None:
    """What the number ``value`` reads as when it is the digits of a date (or a date and time), with the
    form it is written in; None when it is not.

    >>> date_as_number(20261129), date_as_number(20261129101500), date_as_number(1795947300)
    ('the date 2026-11-29 written as YYYYMMDD', '2026-11-29T10:15:00 written as YYYYMMDDhhmmss', None)
    """
    if (found := _read(value)) is None:
        return None
    stamp, digits, written = found
    shown = f"the date {stamp:%Y-%m-%d}" if digits == 8 else stamp.isoformat()
    return f"{shown} written as {written}"


def time_of_date_number(value: float) -> pd.Timestamp | None:
    """The calendar time (no time zone) the number ``value`` reads as when it is the digits of a date,
    or a date and time; None when it is not.

    >>> time_of_date_number(202611291015), time_of_date_number(1795947300)
    (Timestamp('2026-11-29 10:15:00'), None)
    """
    return None if (found := _read(value)) is None else found[0]


def _read(value: float) -> tuple[pd.Timestamp, int, str] | None:
    """``(time, digits, form as written)`` of the number ``value`` read as a date's digits, or None."""
    for digits, form, written in _FORMS:
        _, read = _readings(np.array([value], dtype=np.float64), digits, form)
        if len(read) and pd.notna(stamp := read.iloc[0]):
            return stamp, digits, written
    return None


def as_epoch_seconds(value: float) -> str:
    """What the number ``value`` dates a reading as, read as epoch seconds (from 0 to :data:`MAX_EPOCH_S`).

    >>> as_epoch_seconds(20261129), as_epoch_seconds(20261129101500)
    ('as such it is 1970-08-23T12:05:29Z', 'as such it lies past the year 5138')
    """
    if value >= MAX_EPOCH_S:
        return "as such it lies past the year 5138"
    return f"as such it is {pd.Timestamp(value, unit='s', tz='UTC'):%Y-%m-%dT%H:%M:%SZ}"
