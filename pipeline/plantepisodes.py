"""The plant bench's alerts and episodes: flags turned into alerts by the daemon's hysteresis
(:class:`~pipeline.alerts.AlertTracker` with the configured ``alerts`` settings), and each fault's
window (onset until the asset has recovered, plus grace) in which an alert counts for it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.alerts import AlertTracker
from pipeline.config import AlertSettings
from pipeline.plantnaming import GRACE_S
from pipeline.simulator.faults import Fault

__all__ = [
    "alert_openings",
    "covered_by_open_alert",
    "covered_counts",
    "fault_windows",
    "in_window",
    "openings_at",
]


def alert_openings(stream: pd.DataFrame, flags: np.ndarray, alerts: AlertSettings) -> list[tuple[str, float]]:
    """``(asset_id, opened_at)`` of every episode the daemon's hysteresis opens on these flags."""
    return [(asset, t) for asset, t, _, _ in openings_at(stream, flags, alerts)]


def tracker_for(alerts: AlertSettings) -> AlertTracker:
    """The daemon's hysteresis under ``alerts``, as the benches replay it on per-reading flags."""
    return AlertTracker(
        open_after=alerts.open_after,
        window=alerts.window,
        resolve_after=alerts.resolve_after,
        quiet_s=alerts.quiet_s,
        resolve_hold_s=alerts.resolve_hold_s,
    )


def openings_at(
    stream: pd.DataFrame, flags: np.ndarray, alerts: AlertSettings
) -> list[tuple[str, float, int, float]]:
    """:func:`alert_openings` with the position in ``stream`` of the reading each alert opened on and
    the record time it resolved at (``inf``: still open when the stream ends).

    Example
    -------
    >>> from pipeline.config import AlertSettings
    >>> stream = pd.DataFrame({"asset_id": ["p1"] * 6, "t": [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]})
    >>> rule = AlertSettings(open_after=2, window=2, resolve_after=2, resolve_hold_s=0)
    >>> openings_at(stream, np.array([True, True, False, False, True, True]), rule)
    [('p1', 2.0, 1, 6.0), ('p1', 10.0, 5, inf)]
    """
    tracker = tracker_for(alerts)
    opened: list[tuple[str, float, int, float]] = []
    at: dict[str, int] = {}  # per asset, its open alert's entry in ``opened``
    for n, (asset, t, over) in enumerate(zip(stream["asset_id"], stream["t"], flags.tolist(), strict=True)):
        transition = tracker.observe(asset, over, float(over), float(t), now=float(t), seed=str(n))
        if transition is not None and transition.kind == "open":
            at[asset] = len(opened)
            opened.append((asset, float(t), n, math.inf))
        elif transition is not None:
            i = at.pop(asset)
            opened[i] = (*opened[i][:3], float(t))
    return opened


def covered_by_open_alert(spans: list[tuple[str, float, float]], fault: Fault) -> bool:
    """Whether ``fault`` began while an alert of its asset, opened before its onset, was open: its
    asset was already paged for, and that alert (held open by the fault's high scores) may be the only
    one the fault gets. ``spans``: each alert's ``(asset_id, opened_at, resolved_at)``."""
    return any(asset == fault.asset_id and a < fault.onset < b for asset, a, b in spans)


def covered_counts(
    spans: list[tuple[str, float, float]], faults: list[Fault], detected: dict[str, list[bool]]
) -> dict[str, dict[str, int]]:
    """Per kind, the episodes begun under an open alert (:func:`covered_by_open_alert`), all and those
    ``detected`` (per kind, each episode in the order of ``faults``) lists as undetected."""
    covered = dict.fromkeys(detected, 0)
    undetected = dict.fromkeys(detected, 0)
    seen: dict[str, int] = {}  # episodes of each kind so far: ``detected`` lists them in this order
    for f in faults:
        i = seen[f.kind] = seen.get(f.kind, -1) + 1
        if covered_by_open_alert(spans, f):
            covered[f.kind] += 1
            undetected[f.kind] += not detected[f.kind][i]
    return {"covered_by_open_alert": covered, "covered_by_open_alert_undetected": undetected}


def fault_windows(
    faults: list[Fault], stream: pd.DataFrame, *, grace_s: float = GRACE_S
) -> dict[str, list[tuple[float, float]]]:
    """Per asset, ``(onset, until)`` of every fault: ``until`` is the first reading after the fault's end
    at which the asset is neither under a fault nor recovering from one (a bearing still hot), plus
    ``grace_s``. A stream without the ``recovering`` column ends every window at the fault's end."""
    normal_at: dict[str, np.ndarray] = {}
    if "recovering" in stream:
        quiet = (stream["fault"].fillna("") == "") & ~stream["recovering"].astype(bool)
        for asset, times in stream.loc[quiet, "t"].groupby(stream.loc[quiet, "asset_id"]):
            normal_at[str(asset)] = np.sort(times.to_numpy(float))
    windows: dict[str, list[tuple[float, float]]] = {}
    for f in faults:
        until = f.end
        times = normal_at.get(f.asset_id)
        if times is not None:
            i = int(np.searchsorted(times, f.end))
            until = float(times[i]) if i < len(times) else math.inf
        windows.setdefault(f.asset_id, []).append((f.onset, max(until, f.end) + grace_s))
    return windows


def in_window(windows: dict[str, list[tuple[float, float]]], asset: str, t: float) -> bool:
    """Whether ``t`` falls in one of ``asset``'s windows (as :func:`fault_windows` returns them)."""
    return any(a <= t <= b for a, b in windows.get(asset, []))
