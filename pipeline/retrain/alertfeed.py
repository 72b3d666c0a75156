"""The retrainer's reading of ``anomaly-alerts``: an event checked field by field before the label store
keeps it.

The daemon writes these events, but the topic is open to any producer. One event with a field of the
wrong type must not stop the retrainer (it would meet the same event after every restart), nor be
stored and break every later run that trains on it. An event that breaks the alert contract is
refused with a :class:`AlertEventError` naming the field; the caller logs and counts it and goes on.
The event itself stays in its topic.

Fields the contract does not name are ignored (a later release's daemon may add some), and those added
since the first events (``latest_ts``, ``earliest_ts``) are optional. An event of another ``schema``
than 1, the one an incompatible change of the contract would write, is refused: read as this one, it
would be misread.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.alertevents import sensor_numbers
from pipeline.alertid import id_refusal
from pipeline.recordjson import decode, is_schema_1

__all__ = ["AlertEventError", "alert_event_of", "checked_alert_event"]


class AlertEventError(ValueError):
    """An ``anomaly-alerts`` event that breaks the contract; the message names the field, and ``field``
    is that field's name (None when the record is no JSON object at all)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _text(event: dict[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = event.get(name)
    if value is None and optional:
        return None
    if (why := id_refusal(value, name)) is not None:
        raise AlertEventError(why, name)
    return value


def _number(event: dict[str, Any], name: str, *, optional: bool = False) -> float | None:
    """The number field ``name`` of ``event``; an optional one that is NaN or infinite is unknown (None),
    as the consoles show it, and the alert is kept: a required one (a time) refuses the event, which
    the consoles leave out too."""
    value = event.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlertEventError(f"{name} must be a number, got {type(value).__name__}", name)
    number = float(value) if abs(value) < 2**1023 else math.inf
    if not math.isfinite(number):
        if optional:
            return None
        raise AlertEventError(f"{name} must be finite, got {value!r:.40}", name)
    return number


def alert_event_of(raw: bytes | None) -> dict[str, Any]:
    """The fields of one ``anomaly-alerts`` value that the label store keeps, checked.

    ``values`` keeps the sensors whose values are numbers (a non-finite one as None: missing for
    training), as :func:`pipeline.alertevents.sensor_numbers` writes them.

    Example
    -------
    >>> event = alert_event_of(b'{"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 5,'
    ...                        b' "ts": 5, "score": 0.9, "values": {"x": 1.5, "on": true}}')
    >>> event["values"], event["model_version"]
    ({'x': 1.5}, None)
    >>> alert_event_of(b'{"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 5,'
    ...                b' "ts": 5, "values": [1, 2]}')
    Traceback (most recent call last):
    ...
    pipeline.retrain.alertfeed.AlertEventError: values must be an object of sensor values, got list
    """
    try:  # NaN and Infinity (Python's json writes them) read as numbers, as the consoles read them
        event = decode(raw or b"")
    except ValueError as exc:
        raise AlertEventError(f"not JSON: {str(exc)[:120]}") from None
    return checked_alert_event(event)


def checked_alert_event(event: Any) -> dict[str, Any]:
    """The fields of an ``anomaly-alerts`` record's JSON document (decoded: :func:`alert_event_of`) that
    the label store keeps, checked; the consoles judge by it which alerts can be labelled
    (:mod:`pipeline.alertsread`).

    >>> try:
    ...     checked_alert_event({"alert_id": "a1", "asset_id": 42, "state": "open", "opened_at": 5, "ts": 5})
    ... except AlertEventError as exc:
    ...     print(f"{exc.field}: {exc}")
    asset_id: asset_id must be a printable string of 1 to 256 characters, got 42
    """
    if not isinstance(event, dict):
        raise AlertEventError(f"an alert event is a JSON object, got {type(event).__name__}")
    if not is_schema_1(event):
        raise AlertEventError(
            f"schema {event.get('schema')!r:.40} is not 1, the one this version reads", "schema"
        )
    state = event.get("state")
    if state not in ("open", "resolved"):
        raise AlertEventError(f"state must be 'open' or 'resolved', got {state!r:.40}", "state")
    values = event.get("values")
    if values is not None and not isinstance(values, dict):
        raise AlertEventError(
            f"values must be an object of sensor values, got {type(values).__name__}", "values"
        )
    return {
        "alert_id": _text(event, "alert_id"),
        "asset_id": _text(event, "asset_id"),
        "state": state,
        "opened_at": _number(event, "opened_at"),
        "ts": _number(event, "ts"),
        "latest_ts": _number(event, "latest_ts", optional=True),
        "earliest_ts": _number(event, "earliest_ts", optional=True),
        "score": _number(event, "score", optional=True),
        "threshold": _number(event, "threshold", optional=True),
        "model_version": _text(event, "model_version", optional=True),
        "values": sensor_numbers(values or {}),
    }
