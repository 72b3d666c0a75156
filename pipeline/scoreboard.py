"""Alerts judged against the simulator's ground truth, as the demo shows them live.

An alert is a true positive when its asset had a fault under way when it opened, or was still
recovering from one: between the fault's start and the later of its end and its ``recovered`` truth
event (a bearing cooling down after its fault), plus ``grace_s``. A fault is detected when an alert
opened between its start and its end plus ``grace_s``. Recall counts faults that started at least
``settle_s`` ago (or were already detected): a fault that began a second ago has not had its chance yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pipeline.alerts import sensor_tag

__all__ = ["Scoreboard"]


@dataclass
class _Fault:
    asset_id: str
    kind: str
    start: float
    end: float = math.inf
    recovered: float = math.inf  # the asset back to normal: at the end, unless the truth said otherwise


@dataclass
class _Alert:
    asset_id: str
    opened_at: float
    score: float
    top_sensors: list[str]
    open: bool = True


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

    def add_truth(self, event: dict[str, Any]) -> None:
        """A ``sensor-truth`` event: a fault's ``start``, ``end`` or ``recovered`` (after an ``end`` that
        said ``recovering``: the after-effect outlasted the fault)."""
        key = (str(event["asset_id"]), float(event["onset"]))
        if event["state"] == "start":
            self.faults.setdefault(key, _Fault(key[0], str(event["kind"]), float(event["ts"])))
        elif key in self.faults:
            fault = self.faults[key]
            if event["state"] == "end":
                fault.end = float(event["ts"])
                if not event.get("recovering", False):
                    fault.recovered = fault.end
            elif event["state"] == "recovered":
                fault.recovered = float(event["ts"])

    def add_alert(self, event: dict[str, Any]) -> None:
        """An ``anomaly-alerts`` event (``open`` or ``resolved``)."""
        alert_id = str(event["alert_id"])
        if event["state"] == "open":
            sensors = [sensor_tag(s) for s in event.get("top_sensors", [])]
            self.alerts[alert_id] = _Alert(
                str(event["asset_id"]), float(event["opened_at"]), float(event["score"]), sensors
            )
        elif alert_id in self.alerts:
            self.alerts[alert_id].open = False

    def _fault_at(self, asset_id: str, t: float) -> _Fault | None:
        for fault in self.faults.values():
            until = max(fault.end, fault.recovered) + self.grace_s
            if fault.asset_id == asset_id and fault.start <= t <= until:
                return fault
        return None

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
        return [
            f
            for f in self.faults.values()
            if any(
                a.asset_id == f.asset_id and f.start <= a.opened_at <= f.end + self.grace_s
                for a in self.alerts.values()
            )
        ]

    def recall(self, *, now: float) -> float | None:
        """Detected share of the faults old enough to judge (None before there is one)."""
        detected = {(f.asset_id, f.start) for f in self.detected()}
        judged = [
            f
            for f in self.faults.values()
            if now - f.start >= self.settle_s or (f.asset_id, f.start) in detected
        ]
        return sum((f.asset_id, f.start) in detected for f in judged) / len(judged) if judged else None

    def open_alerts(self) -> list[_Alert]:
        """Alerts not resolved yet, highest score first."""
        return sorted((a for a in self.alerts.values() if a.open), key=lambda a: -a.score)

    def active_faults(self, now: float) -> list[_Fault]:
        """Faults under way at ``now``."""
        return [f for f in self.faults.values() if f.start <= now < f.end]
