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

__all__ = ["alert_openings", "fault_windows", "in_window", "openings_at"]


def alert_openings(stream: pd.DataFrame, flags: np.ndarray, alerts: AlertSettings) -> list[tuple[str, float]]:
    """``(asset_id, opened_at)`` of every episode the daemon's hysteresis opens on these flags."""
    return [(asset, t) for asset, t, _ in openings_at(stream, flags, alerts)]


def openings_at(
    stream: pd.DataFrame, flags: np.ndarray, alerts: AlertSettings
) -> list[tuple[str, float, int]]:
    """:func:`alert_openings` with the position in ``stream`` of the reading each alert opened on."""
    tracker = AlertTracker(
        open_after=alerts.open_after,
        window=alerts.window,
        resolve_after=alerts.resolve_after,
        quiet_s=alerts.quiet_s,
        resolve_hold_s=alerts.resolve_hold_s,
    )
    opened = []
    for n, (asset, t, over) in enumerate(zip(stream["asset_id"], stream["t"], flags.tolist(), strict=True)):
        transition = tracker.observe(asset, over, float(over), float(t), now=float(t), seed=str(n))
        if transition is not None and transition.kind == "open":
            opened.append((asset, float(t), n))
    return opened


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
