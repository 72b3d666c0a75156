"""Drift in the anomaly-score stream: river's ADWIN, one detector for the model version in use (a new
version starts a fresh window; the previous version's detector is dropped, so months of model swaps
keep one).

ADWIN keeps an adaptive window of recent scores and flags a change when two sub-windows have
significantly different means; it needs no window size and no assumption about the score
distribution, which suits a score in [0, 1] whose normal level depends on the model. River's ADWIN is
compiled, so every score can be fed (well under a microsecond each).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from river.drift import ADWIN

__all__ = ["DriftEvent", "ScoreDriftMonitor"]


@dataclass(frozen=True)
class DriftEvent:
    """One detection: the model version, scores seen so far, and the window mean after the change."""

    model_version: str
    scores_seen: int
    window_mean: float
    window_size: int


class ScoreDriftMonitor:
    """Feed batches of scores; get a :class:`DriftEvent` for each change ADWIN detects.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mon = ScoreDriftMonitor(delta=0.002)
    >>> mon.update("v1", rng.uniform(0.0, 0.2, 2000))
    []
    >>> events = mon.update("v1", rng.uniform(0.6, 0.9, 2000))
    >>> len(events) >= 1 and events[0].scores_seen > 2000
    True
    >>> mon.update("v2", rng.uniform(0.6, 0.9, 10)), list(mon._detectors)  # v1's window is gone
    ([], ['v2'])
    """

    def __init__(self, *, delta: float = 0.002) -> None:
        self.delta = delta
        self._detectors: dict[str, ADWIN] = {}
        self._seen: dict[str, int] = {}

    def update(self, model_version: str, scores: Iterable[float]) -> list[DriftEvent]:
        """Add scores of ``model_version`` in stream order; returns the detections among them."""
        detector = self._detectors.get(model_version)
        if detector is None:
            self._detectors = {model_version: ADWIN(delta=self.delta)}
            self._seen = {model_version: self._seen.get(model_version, 0)}
            detector = self._detectors[model_version]
        seen = self._seen.get(model_version, 0)
        events = []
        for score in scores:
            seen += 1
            detector.update(float(score))
            if detector.drift_detected:
                events.append(
                    DriftEvent(model_version, seen, float(detector.estimation), int(detector.width))
                )
        self._seen[model_version] = seen
        return events
