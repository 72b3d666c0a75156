"""Alerts judged against the simulator's ground truth, as the demo shows them live.

An alert is a true positive when its asset had a fault under way when it opened, or was still
recovering from one: between the fault's start and the later of its end and its ``recovered`` truth
event (a bearing cooling down after its fault), plus ``grace_s``. A fault is detected when an alert
opened between its start and its end plus ``grace_s``. Recall counts faults that started at least
``settle_s`` ago (or were already detected): a fault that began a second ago has not had its chance yet.

A fault that began while an alert of its asset, opened before it, was still open (the daemon holds an
alert open ``alerts.resolve_hold_s`` of record time after its last high score) often gets no alert of
its own: the operator was paged for that asset all along. Recall counts it undetected, as the plant
bench does (``covered_by_open_alert_undetected``), and :meth:`Scoreboard.undetected` tells such faults
from the ones missed outright.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

from pipeline.alertevents import sensor_tag, suspect_tag

__all__ = ["Scoreboard"]


@dataclass
class _Fault:
    asset_id: str
    kind: str
    start: float
    end: float = math.inf
    recovered: float = math.inf  # the asset back to normal: at the end, unless the truth said otherwise


def _start(fault: _Fault) -> float:
    return fault.start


@dataclass
class _Alert:
    asset_id: str
    opened_at: float
    score: float
    top_sensors: list[str]
    open: bool = True
    #: The resolved event's ``ts`` (record time); ``inf`` while open.
    resolved_at: float = math.inf
    #: The event's ``suspect_sensors`` as consoles show them (:func:`~pipeline.alertevents.suspect_tag`),
    #: names escaped as ``dhag info`` escapes them (:func:`dhag.infotext.shown_name`), as in ``top_sensors``.
    suspects: list[str] = field(default_factory=list)
    #: Set by a reader of the events as the retrainer reads them (the demo's console): the field of the
    #: first it refuses and why, when it keeps none of them; a label of it would be dead-lettered.
    unlabellable: tuple[str, str] | None = None


@dataclass
class Scoreboard:
    """Feed it truth events and alert events (decoded JSON); read precision and recall.

    Example
    -------
    >>> sb = Scoreboard(grace_s=10, settle_s=5)
    >>> sb.add_truth({"state": "start", "asset_id": "p1", "kind": "seal_leak", "onset": 0.0, "ts": 100.0})
    >>> sb.add_alert({"state": "open", "alert_id": "a", "asset_id": "p1", "opened_at": 103.0, "score": 0.9})
    >>> sb.add_alert({"state": "open", "alert_id": "b", "asset_id": "p2", "opened_at": 104.0, "score": 0.8})
    >>> sb.precision(), sb.recall(now=120.0)
    (0.5, 1.0)
    """

    grace_s: float = 30.0
    settle_s: float = 30.0
    faults: dict[tuple[str, float], _Fault] = field(default_factory=dict)
    alerts: dict[str, _Alert] = field(default_factory=dict)
    # Per asset, in time order: every question below looks only at the asset's own faults and alerts,
    # by bisection, so a demo left running for days answers as fast as after an hour.
    _faults_of: dict[str, list[_Fault]] = field(default_factory=dict, repr=False)
    _unbounded: dict[str, list[_Fault]] = field(default_factory=dict, repr=False)  # not ended/recovered
    _opened_of: dict[str, list[float]] = field(default_factory=dict, repr=False)
    _ids_of: dict[str, list[tuple[float, str]]] = field(default_factory=dict, repr=False)  # (opened, id)
    _longest: float = field(default=0.0, repr=False)  # the longest fault window (start to until) known

    def add_truth(self, event: dict[str, Any]) -> None:
        """A ``sensor-truth`` event: a fault's ``start``, ``end`` or ``recovered`` (after an ``end`` that
        said ``recovering``: the after-effect outlasted the fault)."""
        key = (str(event["asset_id"]), float(event["onset"]))
        if event["state"] == "start":
            if key not in self.faults:
                fault = self.faults[key] = _Fault(key[0], str(event["kind"]), float(event["ts"]))
                bisect.insort(self._faults_of.setdefault(key[0], []), fault, key=_start)
                self._unbounded.setdefault(key[0], []).append(fault)
        elif key in self.faults:
            fault = self.faults[key]
            if event["state"] == "end":
                fault.end = float(event["ts"])
                if not event.get("recovering", False):
                    fault.recovered = fault.end
            elif event["state"] == "recovered":
                fault.recovered = float(event["ts"])
            if math.isfinite(self._until(fault)) and fault in self._unbounded.get(key[0], ()):
                self._unbounded[key[0]].remove(fault)
                self._longest = max(self._longest, self._until(fault) - fault.start)

    def _until(self, fault: _Fault) -> float:
        """The end of the time a fault explains an alert in."""
        return max(fault.end, fault.recovered) + self.grace_s

    def add_alert(self, event: dict[str, Any]) -> None:
        """An ``anomaly-alerts`` event (``open`` or ``resolved``)."""
        alert_id = str(event["alert_id"])
        if event["state"] == "open":
            sensors = [sensor_tag(s) for s in event.get("top_sensors", [])]
            alert = _Alert(str(event["asset_id"]), float(event["opened_at"]), float(event["score"]), sensors)
            said = event.get("suspect_sensors")
            said = said if isinstance(said, list) else []
            alert.suspects = [suspect_tag(s) for s in said if isinstance(s, dict)]
            if alert_id not in self.alerts:
                bisect.insort(self._opened_of.setdefault(alert.asset_id, []), alert.opened_at)
                bisect.insort(self._ids_of.setdefault(alert.asset_id, []), (alert.opened_at, alert_id))
            self.alerts[alert_id] = alert
        elif alert_id in self.alerts:
            alert = self.alerts[alert_id]
            alert.open = False
            ts = event.get("ts")
            # A resolved event without a usable time: it is not known to have covered anything.
            known = isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts)
            alert.resolved_at = float(ts) if known else alert.opened_at

    def _fault_at(self, asset_id: str, t: float) -> _Fault | None:
        """The earliest fault of the asset whose time covers ``t``: of those whose window is known,
        only the ones started within the longest window before ``t`` can."""
        own = self._faults_of.get(asset_id, [])
        lo = bisect.bisect_left(own, t - self._longest, key=_start)
        hi = bisect.bisect_right(own, t, key=_start)
        found = [f for f in own[lo:hi] if t <= self._until(f)]
        found += [f for f in self._unbounded.get(asset_id, ()) if f.start <= t]
        return min(found, key=_start, default=None)

    def cause(self, alert: _Alert) -> str | None:
        """The kind of fault that explains an alert, or None for a false alert."""
        fault = self._fault_at(alert.asset_id, alert.opened_at)
        return fault.kind if fault is not None else None

    def true_positives(self) -> int:
        """Alerts opened while their asset had a fault."""
        return sum(self.cause(a) is not None for a in self.alerts.values())

    def precision(self) -> float | None:
        """True-positive share of the alerts opened so far (None before the first alert)."""
        return self.true_positives() / len(self.alerts) if self.alerts else None

    def detected(self) -> list[_Fault]:
        """Faults with at least one alert opened during them."""
        out = []
        for f in self.faults.values():
            opened = self._opened_of.get(f.asset_id, [])
            i = bisect.bisect_left(opened, f.start)
            if i < len(opened) and opened[i] <= f.end + self.grace_s:
                out.append(f)
        return out

    def recall(self, *, now: float) -> float | None:
        """Detected share of the faults old enough to judge (None before there is one)."""
        detected = {(f.asset_id, f.start) for f in self.detected()}
        judged = [
            f
            for f in self.faults.values()
            if now - f.start >= self.settle_s or (f.asset_id, f.start) in detected
        ]
        return sum((f.asset_id, f.start) in detected for f in judged) / len(judged) if judged else None

    def covered(self, fault: _Fault) -> bool:
        """Whether ``fault`` began while an alert of its asset, opened before it, was still open (the
        latest such alert: one asset's alerts follow one another)."""
        ids = self._ids_of.get(fault.asset_id, [])
        i = bisect.bisect_left(ids, fault.start, key=lambda entry: entry[0])
        return i > 0 and self.alerts[ids[i - 1][1]].resolved_at > fault.start

    def undetected(self, *, now: float) -> tuple[int, int]:
        """Of the faults :meth:`recall` judges undetected: those that began under an alert of their
        asset already open (:meth:`covered`), and those missed outright.

        >>> sb = Scoreboard(grace_s=10, settle_s=5)
        >>> sb.add_alert({"state": "open", "alert_id": "a", "asset_id": "p1", "opened_at": 90, "score": 1})
        >>> sb.add_truth({"state": "start", "asset_id": "p1", "kind": "seal_leak", "onset": 0.0, "ts": 100.0})
        >>> sb.add_truth({"state": "start", "asset_id": "p2", "kind": "seal_leak", "onset": 0.0, "ts": 100.0})
        >>> sb.recall(now=120.0), sb.undetected(now=120.0)
        (0.0, (1, 1))
        """
        detected = {(f.asset_id, f.start) for f in self.detected()}
        judged = [f for f in self.faults.values() if now - f.start >= self.settle_s]
        undetected = [f for f in judged if (f.asset_id, f.start) not in detected]
        covered = sum(self.covered(f) for f in undetected)
        return covered, len(undetected) - covered

    def open_alerts(self) -> list[_Alert]:
        """Alerts not resolved yet, highest score first."""
        return sorted((a for a in self.alerts.values() if a.open), key=lambda a: -a.score)

    def active_faults(self, now: float) -> list[_Fault]:
        """Faults under way at ``now``."""
        return [f for f in self.faults.values() if f.start <= now < f.end]
