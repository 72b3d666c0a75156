"""Room for the alert state of at most ``alerts.max_assets`` assets, across every partition a daemon reads.

Each asset heard from within ``alerts.quiet_s`` holds about 1 KB of alert state, so a producer that
makes asset ids up (a buggy gateway, a hostile one) would grow the daemon without bound. Past the cap,
the assets without an open alert go first, the least recently heard from first: they lose no more than
the window their next alert would open on. An asset with an open alert is never dropped (its episode
would never resolve): when every asset held has one, a new asset gets no alert state (its readings are
scored, open no alert and export no series) until one resolves.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.alerts import AlertTracker

__all__ = ["AssetRoom"]


class AssetRoom:
    """Room for ``limit`` assets (None: no limit) in the trackers ``trackers()`` gives, which share it.

    Room is made in steps of a tenth of the limit, so that the walk over every asset that finds the
    ones to evict comes once per that many new assets. :meth:`take_counts` says how many were evicted
    and refused since it was last asked.

    Example
    -------
    >>> from pipeline.alerts import AlertTracker
    >>> trackers = []
    >>> room = AssetRoom(2, lambda: trackers)
    >>> t = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60, room=room)
    >>> trackers.append(t)
    >>> [t.observe(a, a == "b", 0.5, 0, now=now, seed=a) for now, a in enumerate("abc")][1].kind
    'open'
    >>> "a" in t, "b" in t, "c" in t, room.take_counts()  # "a" was evicted; "b" has an open alert
    (False, True, True, (1, 0))
    """

    def __init__(self, limit: int | None, trackers: Callable[[], Iterable[AlertTracker]]) -> None:
        self.limit = limit
        self._trackers = trackers
        self._evicted = self._refused = 0
        self._full_at: float | None = None  # the clock when every asset held had an open alert

    def admit(self, now: float, *, count: bool = True) -> bool:
        """Whether one more asset may have alert state at clock ``now``, after evicting assets without
        an open alert when the limit is reached; False (counted as refused, unless not ``count``: the
        caller asks again for the same reading) when every one has one."""
        if self.limit is None:
            return True
        trackers = list(self._trackers())
        held = sum(len(tracker) for tracker in trackers)
        if held < self.limit:
            return True
        if self._full_at != now:  # at the same clock, no asset was found without an open alert
            target = self.limit - max(1, self.limit // 10)
            idle = ((seen, i, asset) for i, tracker in enumerate(trackers) for seen, asset in tracker.idle())
            for _, i, asset in heapq.nsmallest(held - target, idle):
                trackers[i].evict(asset)
                held -= 1
                self._evicted += 1
            if held < self.limit:
                self._full_at = None
                return True
            self._full_at = now
        self._refused += count
        return False

    def space(self) -> int | None:
        """How many more assets may have alert state, the assets without an open alert evicted for them
        (None: no limit)."""
        if self.limit is None:
            return None
        trackers = list(self._trackers())
        held = sum(len(tracker) for tracker in trackers)
        return self.limit - held + sum(1 for tracker in trackers for _ in tracker.idle())

    def refuse(self, count: int) -> None:
        """Count ``count`` assets refused alert state (:meth:`take_counts`) that did not ask :meth:`admit`."""
        self._refused += count

    def take_counts(self) -> tuple[int, int]:
        """The assets evicted and the new ones refused state since the last call."""
        counts = self._evicted, self._refused
        self._evicted = self._refused = 0
        return counts
