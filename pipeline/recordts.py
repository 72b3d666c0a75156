"""The timestamp of the sensor-record contract (a record's ``ts``, a label's times, a history's ``t``):
ISO-8601 text or epoch seconds, and why a value is refused (:func:`parse_timestamp`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

__all__ = ["MAX_EPOCH_S", "TS_FORMS", "iso_refusal", "iso_seconds", "parse_timestamp"]

# Epoch seconds at or beyond this are almost surely milliseconds (year 5138); refuse rather than guess.
MAX_EPOCH_S = 1e11
# The ISO-8601 texts a ts takes: a date and a time of day to the minute at least (RFC 3339's form, with a
# space for the "T" as it allows), an offset or none (UTC); ``fromisoformat`` checks the rest.
_ISO_MARKS = ("--T:", "-- :")
TS_FORMS = (
    "write YYYY-MM-DDThh:mm[:ss[.fff]] with Z, ±hh:mm or no offset (UTC), such as 2026-03-01T12:00:00.250Z"
)
_NUMBER = (int, float)
# The units a time past MAX_EPOCH_S may be in, and what gives seconds of them (Telegraf's are nanoseconds).
_FINER = (("milliseconds", 1000), ("microseconds", 1000_000), ("nanoseconds", 1000_000_000))


def parse_timestamp(ts: Any, field: str = "ts") -> float:
    """Epoch seconds from an ISO-8601 string (UTC when no offset is given) or a number of seconds.

    Raises ``ValueError`` (bad value) or ``TypeError`` (neither a string nor a number), naming the value
    as ``field``: a record's or a label's ``ts``, a label's ``labelled_at``.

    Example
    -------
    >>> parse_timestamp("2026-11-29T10:15:00.250Z")
    1795947300.25
    >>> parse_timestamp(1795947300)
    1795947300.0
    """
    if isinstance(ts, str):
        if (seconds := iso_seconds(ts)) is None:
            raise ValueError(_ts_refused(ts, field))
        value = seconds
    elif isinstance(ts, bool) or not isinstance(ts, _NUMBER):
        raise TypeError(f"{field} must be an ISO-8601 string or epoch seconds, got {type(ts).__name__}")
    else:
        try:
            value = float(ts)
        except OverflowError:
            value = math.inf
    if not (0 <= value < MAX_EPOCH_S):
        raise ValueError(_out_of_range(ts, value, field))
    return value


def _out_of_range(ts: Any, value: float, field: str) -> str:
    """What is wrong with a time ``ts`` of ``field`` whose ``value`` (epoch seconds) is not of 1970-5138."""
    if isinstance(ts, str):
        return f"{field} {ts!r:.60} is outside 1970 to year 5138"
    shown = f"{field} {ts!r:.60}" if isinstance(ts, int) else f"{field} {value!r}"
    if not math.isfinite(value):
        return f"{shown} is not a finite number of epoch seconds"
    if value < 0:
        return f"{shown} lies before 1970 (epoch seconds count from 1970-01-01T00:00:00Z)"
    if said := _date_typed(shown, value):
        return said
    for unit, divisor in _FINER:
        if value / divisor < MAX_EPOCH_S:
            return f"{shown} lies beyond year 5138: epoch {unit}? {field} takes seconds (divide by {divisor})"
    return f"{shown} lies beyond year 5138 (epoch seconds)"


def _date_typed(shown: str, value: float) -> str | None:
    """Why a ``ts`` whose number ``value`` is the digits of a date and time (``20261129101500``) is
    refused, with the time written as the contract takes it; None when it is not such digits. Eight
    digits never come here: as epoch seconds they are times of 1970, taken (and counted as misdated), as
    a device clock reset to 1970 gives them.

    >>> _date_typed("ts 202611291015", 202611291015.0)[:93]
    'ts 202611291015 is a date typed as a number: it reads as 2026-11-29T10:15:00 written as YYYYM'
    """
    # Imported here: it loads pandas, which the consoles that read labels do not, and imports this module.
    from pipeline.datenumbers import date_as_number, time_of_date_number

    if value < MAX_EPOCH_S or (stamp := time_of_date_number(value)) is None:
        return None
    seconds = int(stamp.tz_localize(UTC).timestamp())
    return (
        f"{shown} is a date typed as a number: it reads as {date_as_number(value)}, not as epoch seconds: "
        f"write it as ISO-8601 text, {stamp:%Y-%m-%dT%H:%M:%S}Z (UTC; a local time with its offset, "
        f"such as +01:00), or as a number of epoch seconds, {seconds} if it is UTC"
    )


def iso_seconds(ts: str) -> float | None:
    """Epoch seconds of the text ``ts`` when it is an ISO-8601 time in a form the contract takes (UTC when
    it has no offset), else None (:func:`iso_refusal` says why): a record's ``ts``, a history's ``t``.

    >>> iso_seconds("2026-11-29T11:15:00.250+01:00"), iso_seconds("2026-11-29"), iso_seconds("Sunday")
    (1795947300.25, None, None)
    """
    try:
        parsed = datetime.fromisoformat(ts)
    except ValueError:
        return None
    # fromisoformat also reads a date alone, the basic, week and ordinal forms (as midnight or the
    # hour: not what a gateway that writes them means) and lets one trailing NUL through. Of what it
    # reads, a date and a time to the minute at least have "-", "-", "T" or " ", ":" at 4, 7, 10, 13.
    if ts[4:14:3] not in _ISO_MARKS or not ts.isprintable():
        return None
    return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).timestamp()


def iso_refusal(ts: str) -> str | None:
    """Why :func:`iso_seconds` refuses the text ``ts``, in the words that follow it in a refusal, when it
    is an ISO-8601 time of a form not taken or holds a control character; None when it is neither.

    >>> iso_refusal("2026-W48-7")[:63]
    'is an ISO-8601 form not taken (a date alone, a basic, week or o'
    >>> iso_refusal("29/11/2026") is None
    True
    """
    if not ts.isprintable():
        return "holds a control character"
    try:
        datetime.fromisoformat(ts)
    except ValueError:
        return None
    return f"is an ISO-8601 form not taken (a date alone, a basic, week or ordinal date): {TS_FORMS}"


def _ts_refused(ts: str, field: str = "ts") -> str:
    """Why a time's text ``ts`` (the value of ``field``) is refused, and what it should be instead.

    >>> _ts_refused("1796391705")
    "ts '1796391705' is not an ISO-8601 time: epoch seconds go as a JSON number, not as text"
    >>> _ts_refused("2026-W48-7", "labelled_at")[:78]
    "labelled_at '2026-W48-7' is an ISO-8601 form not taken (a date alone, a basic,"
    """
    shown = f"{field} {ts!r:.60}"
    if words := iso_refusal(ts):
        return f"{shown} {words}"
    try:
        number = float(ts)
    except ValueError:
        return f"{shown} is not an ISO-8601 time: {TS_FORMS}"
    if ts.isdigit() and (said := _date_typed(shown, number)):
        return said
    return f"{shown} is not an ISO-8601 time: epoch seconds go as a JSON number, not as text"
