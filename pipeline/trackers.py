"""The alert state of every input partition a daemon reads: one :class:`~pipeline.alerts.AlertTracker`
per partition, and savepoints over all of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.alertroom import AssetRoom
from pipeline.alerts import AlertTracker

__all__ = ["Trackers"]


class Trackers(dict[tuple[str, int], AlertTracker]):
    """The :class:`AlertTracker` of each input partition, made on first use with the same settings, and
    savepoints over all of them: the daemon undoes a batch whose output the broker did not take, so
    that processing it again yields the same alert events instead of none.

    >>> trackers = Trackers(open_after=1, window=1, resolve_after=1, quiet_s=60)
    >>> point = trackers.savepoint()
    >>> trackers.of(("in", 0)).observe("p1", True, 0.9, 0, now=0, seed="0").kind
    'open'
    >>> trackers.rollback(point)
    >>> len(trackers)  # a tracker made since the point goes too
    0
    """

    def __init__(self, *, max_assets: int | None = None, **settings: Any) -> None:
        super().__init__()
        #: At most ``max_assets`` assets held in all (None: no limit; :mod:`pipeline.alertroom`).
        self.room = AssetRoom(max_assets, self.values)
        self._settings = settings | {"room": self.room}

    def of(self, tp: tuple[str, int]) -> AlertTracker:
        """The tracker of partition ``tp``, made when it has none."""
        tracker = self.get(tp)
        if tracker is None:
            tracker = self[tp] = AlertTracker(**self._settings)
        return tracker

    def savepoint(self) -> dict[tuple[str, int], int]:
        """A savepoint in every tracker (see :meth:`AlertTracker.savepoint`)."""
        return {tp: tracker.savepoint() for tp, tracker in self.items()}

    def rollback(self, point: Mapping[tuple[str, int], int]) -> None:
        """Undo everything since ``point``: trackers made since are dropped."""
        for tp, tracker in list(self.items()):
            if tp in point:
                tracker.rollback(point[tp])
            else:
                del self[tp]

    def release(self, point: Mapping[tuple[str, int], int]) -> None:
        """Keep everything since ``point``."""
        for tp, tracker in self.items():
            if tp in point:
                tracker.release(point[tp])
