"""What an alert event says: the ``anomaly-alerts`` value of a transition, and how consoles name its
sensors (:mod:`pipeline.alerts` decides when episodes open and resolve)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dhag.infotext import shown_name

if TYPE_CHECKING:
    from pipeline.alerts import Transition

__all__ = [
    "alert_event",
    "event_of",
    "first_suspect",
    "imputed_sensors",
    "range_side",
    "sensor_numbers",
    "sensor_tag",
    "suspect_tag",
]


def range_side(value: float, training_range: Sequence[float] | None) -> str | None:
    """``"above"`` or ``"below"`` when ``value`` lies beyond the feature's training ``[min, max]``,
    else None (inside it, or no range known).

    >>> range_side(12.0, [0.0, 10.0]), range_side(-1.0, (0.0, 10.0)), range_side(5.0, [0, 10])
    ('above', 'below', None)
    """
    if not training_range:
        return None
    low, high = training_range
    return "above" if value > high else "below" if value < low else None


def sensor_tag(entry: Mapping[str, Any]) -> str:
    r"""How consoles name a top sensor of an alert event: its name, as ``dhag info`` writes it
    (:func:`dhag.infotext.shown_name`: the alerts topic of a shared cluster carries the alerts of models
    trained on users' columns, and a name holding a line break or a terminal's escape is escaped), when
    its value lay beyond what the model's training history saw, on which side, and whether it is (or
    comes from) a value the daemon imputed rather than read. The side (``above`` or ``below`` from the
    daemon) is shown so too, as the event gives it.

    >>> sensor_tag({"sensor": "suction_pu", "outside_training_range": "below"})
    'suction_pu (below history)'
    >>> sensor_tag({"sensor": "head_pu", "outside_training_range": "above", "imputed": True})
    'head_pu (above history, imputed)'
    >>> print(sensor_tag({"sensor": "flow_pu"}), sensor_tag({"sensor": "flow\nrate"}))
    flow_pu 'flow\nrate'
    """
    side = entry.get("outside_training_range")
    notes = ([f"{shown_name(side)} history"] if side else []) + (["imputed"] if entry.get("imputed") else [])
    name = shown_name(entry.get("sensor"))
    return f"{name} ({', '.join(notes)})" if notes else name


def imputed_sensors(values: Mapping[str, Any], inputs: Sequence[str]) -> list[str]:
    """The sensors of ``inputs`` (the model's, in its order) that a record the daemon scored lacks or
    holds as no finite number: with ``records.missing_policy`` ``impute`` their training means stood in
    for them (a record missing one it could not impute was dead-lettered, never scored).

    >>> imputed_sensors({"a": 1.0, "b": None, "c": float("nan"), "x": None}, ["a", "b", "c", "d"])
    ['b', 'c', 'd']
    """
    out = []
    for name in inputs:
        value = values.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.append(name)
            continue
        try:
            finite = math.isfinite(float(value))
        except OverflowError:  # an integer past what a float holds
            finite = False
        if not finite:
            out.append(name)
    return out


def sensor_numbers(values: Mapping[str, Any]) -> dict[str, float | int | None]:
    """A record's ``values`` as an alert carries them: sensor name -> number. The parser checks only
    the model's sensors, so an extra one may hold anything JSON can; what is not a number is left
    out, a NaN or infinity becomes null, and an integer past 64 bits a float, so that the event
    always serialises.

    >>> sensor_numbers({"a": 1, "b": float("nan"), "c": "on", "d": [1], "e": 10**30, "f": True, "g": 10**400})
    {'a': 1, 'b': None, 'e': 1e+30, 'g': None}
    """
    out: dict[str, float | int | None] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, int) and not -(2**63) <= value < 2**64:
            value = float(value) if abs(value) < 2**1023 else math.inf  # float() of 10**400 overflows
        out[str(name)] = value if math.isfinite(value) else None
    return out


def alert_event(
    transition: Transition,
    *,
    threshold: float,
    model_version: str,
    top_sensors: list[dict[str, Any]],
    values: dict[str, Any],
    imputed: Sequence[str] = (),
    suspect_sensors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON-ready ``anomaly-alerts`` value for a transition (``ts`` fields in epoch seconds).

    ``imputed``: the opening record's sensors the daemon imputed (:func:`imputed_sensors`): they are
    null among the ``values`` (the record had no number for them) and listed in ``imputed``, which is
    left out when there are none. ``suspect_sensors``
    (:meth:`~pipeline.hotswap.ActiveModel.suspect_sensors`): the raw sensors that, read differently
    alone, make the opening reading most normal; an empty list when none does or it is not known.
    """
    event: dict[str, Any] = {
        "schema": 1,
        "alert_id": transition.alert_id,
        "asset_id": transition.asset_id,
        "state": transition.kind,
        "opened_at": transition.opened_at,
        "ts": transition.ts,
        "score": transition.score,
        "threshold": threshold,
        "model_version": model_version,
        "top_sensors": top_sensors,
        "suspect_sensors": suspect_sensors or [],
        "values": sensor_numbers(values) | dict.fromkeys(imputed),
    }
    if imputed:
        event["imputed"] = list(imputed)
    if transition.source is not None:
        event["source"] = transition.source
    if transition.resolved_by is not None:
        event["resolved_by"] = transition.resolved_by
    if transition.kind == "resolved" and transition.last_source is not None:
        event["last_source"] = transition.last_source
    if transition.kind == "resolved" and transition.latest_ts is not None:
        event["latest_ts"] = transition.latest_ts
    if transition.kind == "resolved" and transition.earliest_ts is not None:
        event["earliest_ts"] = transition.earliest_ts
    return event


def event_of(
    transition: Transition, context: Any, threshold: float, model_version: str, inputs: Sequence[str]
) -> dict[str, Any]:
    """:func:`alert_event` of ``transition`` saying what its open event said: ``context`` is ``(top
    sensors, the opening record's values, the sensors imputed in it, suspect sensors)``; the imputed
    sensors None for an episode carried over from an event that did not say (an earlier version's,
    found again among the model's ``inputs``), the suspects missing for one that did not carry them."""
    sensors, values, imputed, suspects = (*context, None, None)[:4] if context else ([], {}, [], [])
    if imputed is None:  # the model's sensors the record has no number for (else dead-lettered)
        imputed = imputed_sensors(values, inputs) if values else []
    return alert_event(
        transition,
        threshold=threshold,
        model_version=model_version,
        top_sensors=sensors,
        values=values,
        imputed=imputed,
        suspect_sensors=suspects,
    )


def first_suspect(context: Any, inputs: Sequence[str]) -> str | None:
    """The sensor an open event's ``context`` (as :func:`event_of` takes it) names first among its
    suspect sensors, if it is one of the model's raw ``inputs`` (an event read back from the alerts
    topic may say anything); None when it names none.

    >>> first_suspect(([], {}, [], [{"sensor": "flow"}, {"sensor": "head"}]), ["head", "flow"])
    'flow'
    >>> first_suspect(([], {}, [], [{"sensor": "made_up"}]), ["flow"]), first_suspect(([], {}, []), ["flow"])
    (None, None)
    """
    suspects = context[3] if context and len(context) > 3 else None
    sensor = suspects[0].get("sensor") if suspects and isinstance(suspects[0], Mapping) else None
    return sensor if isinstance(sensor, str) and sensor in inputs else None


def suspect_tag(entry: Mapping[str, Any]) -> str:
    """How consoles name a suspect sensor of an alert event: its name (as :func:`sensor_tag` writes it),
    what it read and the value that made the reading most normal, both in plain digits and to as many
    decimals as show their difference (:func:`shown_pair`).

    >>> suspect_tag({"sensor": "flow_m3h", "value": 0.0, "typical_value": 41.23, "score_if_typical": 0.1})
    'flow_m3h (reads 0, typical 41.2)'
    >>> suspect_tag({"sensor": "speed_rpm", "value": 1668.0, "typical_value": 1672.4})
    'speed_rpm (reads 1668, typical 1672.4)'

    A sensor stuck at one value (:mod:`pipeline.frozen`) says for how long:

    >>> suspect_tag({"sensor": "flow_m3h", "value": 62.4, "unchanged_readings": 34, "unchanged_s": 66.0})
    'flow_m3h (stuck at 62.4 for 34 readings, 66 s)'
    """
    if isinstance(count := entry.get("unchanged_readings"), int) and not isinstance(count, bool):
        seconds = entry.get("unchanged_s")
        span = f", {seconds:.0f} s" if isinstance(seconds, int | float) and math.isfinite(seconds) else ""
        stuck = shown_pair(entry.get("value"), None)[0]
        return f"{shown_name(entry.get('sensor'))} (stuck at {stuck} for {count} readings{span})"
    reads, typical = shown_pair(entry.get("value"), entry.get("typical_value"))
    return f"{shown_name(entry.get('sensor'))} (reads {reads}, typical {typical})"


def shown_pair(value: Any, other: Any) -> tuple[str, str]:
    """Two readings of one sensor as text that tells them apart: plain digits (no exponent between
    1e-4 and 1e15), 3 significant digits of the larger, or as many decimals as give their difference 2
    significant digits; trailing zeros dropped. A stuck sensor's suspect value often lies within 1 % of
    what the model finds typical, which 3 significant digits alone print the same.

    >>> shown_pair(1.0027, 1.013), shown_pair(0.0, 41.23), shown_pair(1136.0, 1147.36)
    (('1.003', '1.013'), ('0', '41.2'), ('1136', '1147'))
    >>> shown_pair(4.4698, 4.291), shown_pair(2e-7, 3e-7), shown_pair(None, 1.5)
    (('4.47', '4.29'), ('2e-07', '3e-07'), ('?', '1.5'))
    """
    numbers = [x if isinstance(x, int | float) and not isinstance(x, bool) else None for x in (value, other)]
    finite = [float(x) for x in numbers if x is not None and math.isfinite(x)]
    largest = max((abs(x) for x in finite), default=0.0)
    if len(finite) < 2 or not (largest == 0 or 1e-4 <= largest < 1e15):
        return _short(numbers[0]), _short(numbers[1])
    decimals = max(0, 2 - math.floor(math.log10(largest))) if largest else 0
    if (difference := abs(finite[0] - finite[1])) > 0:
        decimals = max(decimals, 1 - math.floor(math.log10(difference)))
    return _plain(finite[0], min(decimals, 15)), _plain(finite[1], min(decimals, 15))


def _plain(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text == "-0" else text


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) and not isinstance(value, bool) else "?"
