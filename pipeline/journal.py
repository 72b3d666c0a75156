"""Savepoints over per-asset states: the changes since a point are undone (a batch whose events the
broker did not take) or kept. The alert state of a partition (:class:`~pipeline.alerts.AlertTracker`)
is one such state."""

from __future__ import annotations

from typing import Any

__all__ = ["Journal"]


class Journal:
    """Savepoints over ``_assets`` (asset id -> a state with ``copy()``): ``_journal`` holds them,
    innermost last, each mapping the assets changed since it to their state before (None: the asset
    did not exist). A change goes through :meth:`_touch` first."""

    _assets: dict[str, Any]
    _journal: list[dict[str, Any]]

    def savepoint(self) -> int:
        """Start recording changes; :meth:`rollback` to the returned point undoes every observation,
        sweep and context since, :meth:`release` keeps them. Points nest (innermost first).

        >>> from pipeline.alerts import AlertTracker
        >>> t = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
        >>> point = t.savepoint()
        >>> t.observe("p1", True, 0.9, 0, now=0, seed="0").kind
        'open'
        >>> t.rollback(point)  # the open event was never delivered
        >>> t.is_open("p1"), len(t)
        (False, 0)
        >>> t.observe("p1", True, 0.9, 0, now=0, seed="0").kind  # replayed: the same event again
        'open'
        """
        self._journal.append({})
        return len(self._journal)

    def rollback(self, point: int) -> None:
        """Restore the state at ``point`` (and end it and every point opened after it)."""
        while len(self._journal) >= point:
            for asset_id, saved in self._journal.pop().items():
                if saved is None:
                    self._assets.pop(asset_id, None)
                else:
                    self._assets[asset_id] = saved

    def release(self, point: int) -> None:
        """Keep the changes since ``point`` (and end it and every point opened after it)."""
        while len(self._journal) >= point:
            layer = self._journal.pop()
            if self._journal:  # an outer point still needs the states from before this one
                outer = self._journal[-1]
                for asset_id, saved in layer.items():
                    outer.setdefault(asset_id, saved)

    def _touch(self, asset_id: str) -> None:
        """Remember ``asset_id``'s state before its first change since the innermost savepoint."""
        if self._journal and asset_id not in self._journal[-1]:
            state = self._assets.get(asset_id)
            self._journal[-1][asset_id] = None if state is None else state.copy()
