"""The label store's half that keeps the normal sample: sampled readings, the alert episodes that keep
readings out of it, and what may go after months (:class:`~pipeline.labelstore.LabelStore` is the
whole store; this half works on its ``readings`` and ``alerts`` tables).
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.backoff import ThrottledLog

if TYPE_CHECKING:
    from pipeline.labelstore import LabelledReading

__all__ = ["NormalSample", "Reading"]

log = logging.getLogger(__name__)
_thin_log = ThrottledLog(log, 3600.0)

Reading = tuple[str, float, dict[str, float]]  # (asset_id, ts, values)

_SINCE = "readings_since"  # state: when the store received its first readings (the caller's clock)
_RECEIVED = "readings_received"  # state: when the store last received readings (the caller's clock)
# The id of each asset's newest reading.
_NEWEST_IDS = (
    "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY asset_id ORDER BY ts DESC, id DESC) AS k"
    " FROM readings) WHERE k = 1"
)


@dataclass(frozen=True)
class _Window:
    """An alert episode as the normal sample sees it."""

    alert_id: str
    asset_id: str
    opened_at: float
    start: float  # the earliest faulty reading's time (a back-filled one), at most opened_at
    end: float  # resolved, or where the asset's next episode opened; inf for the newest still open
    unresolved: bool
    newest: bool  # the asset's newest episode
    seen_at: float  # when the store recorded it (the store's clock)


class NormalSample:
    """Readings sampled from the input, thinned over time, and the windows of alert episodes."""

    _db: sqlite3.Connection

    if TYPE_CHECKING:

        def latest_labels(self) -> list[LabelledReading]: ...

    def add_readings(
        self, rows: Iterable[Reading], *, keep: int, retire_s: float | None = None, now: float | None = None
    ) -> int:
        """Add sampled readings ``(asset_id, ts, values)``; returns how many were new.

        Beyond ``keep`` rows, every second row of each asset in the older half is dropped (repeatedly if
        need be): the sample stays dense for the recent past and, thinner and thinner, reaches back over
        earlier operating conditions (a daily load cycle, last week's set points) within a bounded size,
        with every asset still in it. Every asset: thinning keeps each one's oldest reading, and never
        takes an asset's newest (when the older half holds one reading per asset, the sample exceeds
        ``keep`` by up to one reading per asset, at most to ``2 * keep``; past that the assets silent
        longest go, with a warning), so the readings of an asset whose newest is ``retire_s`` older than
        the sample's newest go (a machine taken out of service, an id renamed), else retired ids would
        fill the sample over the months; thinning alone never makes a live asset look retired.
        The sample's newest is taken at most at ``now`` (the caller's clock): one device clock a year
        ahead would otherwise retire every other asset. A reading dated more than ``retire_s`` before
        the sample's newest (this batch's included, at most ``now``) is not sampled: it would count as
        retired, and as its asset's oldest reading it would stay for good. Nothing is retired before
        the store has received readings for ``retire_s`` (:meth:`retired_before`).
        """
        rows = list(rows)
        stored = self._db.execute("SELECT MAX(ts) FROM readings").fetchone()[0]
        if retire_s is not None and rows:
            # A reading dated before the retirement horizon (a gateway's clock reset to 1970) would be
            # retired on arrival were it its asset's only one, and as an asset's oldest it would stay
            # through every thinning and train every later model: it is not sampled.
            high = max(float(t) for _, t, _ in rows)
            high = high if stored is None else max(high, float(stored))
            floor = min(high, math.inf if now is None else now) - retire_s
            if len(kept := [r for r in rows if r[1] >= floor]) < len(rows):
                _thin_log.log(
                    "old",
                    logging.WARNING,
                    "%d sampled reading(s) dated over retrain.asset_retire_s before the sample's newest (a"
                    " device clock reset?) left out of the normal sample",
                    len(rows) - len(kept),
                )
            rows = kept
        cursor = self._db.executemany(
            "INSERT OR IGNORE INTO readings (asset_id, ts, values_json) VALUES (?, ?, ?)",
            ((a, float(t), json.dumps(v)) for a, t, v in rows),
        )
        added = max(cursor.rowcount, 0)
        self._keep_start(None if stored is None else float(stored), retire_s, now)
        if (cutoff := self._retire_cutoff(retire_s, now)) is not None:
            self._db.execute(
                "DELETE FROM readings WHERE asset_id IN (SELECT asset_id FROM readings GROUP BY asset_id"
                " HAVING MAX(ts) < ?)",
                (cutoff,),
            )
        while (count := self.reading_count()) > keep:
            half = max(2, count // 2)
            dropped = self._db.execute(
                "DELETE FROM readings WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER"
                " (PARTITION BY asset_id ORDER BY ts, id) AS n FROM (SELECT id, asset_id, ts FROM readings"
                " ORDER BY ts, id LIMIT ?)) WHERE n % 2 = 0)",
                (half,),
            ).rowcount
            if dropped <= 0:
                # One reading per asset in the older half: thin it regardless of asset, but never an
                # asset's newest reading. Else an asset that sends rarely, in a store holding more than
                # about keep / 2 assets, lost its only reading and counted as retired (its reference
                # rows and per-asset feature reference went with it).
                dropped = self._db.execute(
                    "DELETE FROM readings WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER"
                    " (ORDER BY ts, id) AS n FROM (SELECT id, ts FROM readings ORDER BY ts, id LIMIT ?)"
                    f" WHERE id NOT IN ({_NEWEST_IDS})) WHERE n % 2 = 0)",
                    (half,),
                ).rowcount
            if dropped <= 0:
                # The older half is all assets' only readings: the sample holds one reading per asset
                # beyond ``keep``, up to twice ``keep``; past that, the assets silent longest go.
                if count <= 2 * keep:
                    break
                _thin_log.log(
                    "assets",
                    logging.WARNING,
                    "the normal sample holds more assets than retrain.normal_sample_size / 2 (%d readings,"
                    " each the only one of its asset, in its older half): the assets silent longest"
                    " leave it; raise retrain.normal_sample_size",
                    count // 2,
                )
                self._db.execute(
                    "DELETE FROM readings WHERE id IN (SELECT id FROM readings ORDER BY ts, id LIMIT ?)",
                    (count - 2 * keep,),
                )
        return added

    def _keep_start(self, before: float | None, retire_s: float | None, now: float | None) -> None:
        """Keep when the store started receiving readings (``now``, else its newest reading's ts), which
        its age counts from. Counted again from now when it is none yet (a new store, or one written
        before this was kept), when the one kept lies ahead of ``now`` (recorded by a clock since
        stepped back: nothing would be retired until the clock caught up, a year later for a host that
        booted a year ahead), or when the sample's newest moved ahead of ``before`` (its newest before
        this batch) by more than ``retire_s`` at once, or ``now`` moved ahead of the last batch's by more
        than ``retire_s``: the store was not receiving for longer than that (restored from an old backup,
        the retrainer stopped), and would retire every asset whose partition it has not read again yet.
        The backlog of a stopped retrainer comes back a partition's fetch at a time, and a partition of
        rare senders covers hours a fetch where a busy one covers minutes: the sample's newest moves
        ahead by no more than a fetch at a time, yet days ahead of the busy partitions' readings.
        """
        high = self._db.execute("SELECT MAX(ts) FROM readings").fetchone()[0]
        clock = now if now is not None else high
        if clock is None:
            return
        kept = self._db.execute(f"SELECT value FROM state WHERE key = '{_SINCE}'").fetchone()
        last = self._db.execute(f"SELECT value FROM state WHERE key = '{_RECEIVED}'").fetchone()
        if now is not None:
            self._set(_RECEIVED, now)
        if kept is not None:
            ahead = now is not None and float(kept[0]) > now
            gap = retire_s is not None and before is not None and min(float(high), clock) - before > retire_s
            away = now - float(last[0]) if now is not None and last is not None else 0.0
            idle = retire_s is not None and away > retire_s
            if not (ahead or gap or idle):
                return
            log.warning(
                "the label store's age counts again from now: %s; no asset is retired for %.0f s",
                "its start was recorded ahead of this clock"
                if ahead
                else "it received no reading for longer than retrain.asset_retire_s",
                retire_s if retire_s is not None else 0.0,
            )
        self._set(_SINCE, clock)

    def _set(self, key: str, value: float) -> None:
        self._db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, repr(float(value))),
        )

    def _retire_cutoff(self, retire_s: float | None, now: float | None) -> float | None:
        """An asset whose newest reading is older than this is retired: ``retire_s`` before the sample's
        newest reading, or ``now`` if earlier. None with ``retire_s`` None, or while the store has
        received readings for less than ``retire_s``.

        The store's age counts from its first readings (the caller's clock then, kept in ``state``),
        not from its oldest reading: thinning keeps each asset's oldest, so one reading a gateway dated
        1970 would make a store days old look decades old. A store written before this was kept counts
        from its first readings after the upgrade.
        """
        if retire_s is None:
            return None
        since = self._db.execute(f"SELECT value FROM state WHERE key = '{_SINCE}'").fetchone()
        high = self._db.execute("SELECT MAX(ts) FROM readings").fetchone()[0]
        if since is None or high is None:
            return None
        newest = min(float(high), math.inf if now is None else now)
        return newest - retire_s if newest - float(since[0]) >= retire_s else None

    def retired_before(self, retire_s: float | None, now: float) -> tuple[float, dict[str, float]] | None:
        """``(cutoff, newest)``: an asset whose newest reading is older than ``cutoff`` is retired, the
        rule :meth:`add_readings` applies (``retire_s`` before the newest reading, or ``now`` if
        earlier); ``newest`` maps each asset the sample holds to its newest reading's ts. None while the
        store has received readings for less than ``retire_s``, or with ``retire_s`` None: no asset can
        be called retired.
        """
        cutoff = self._retire_cutoff(retire_s, now)
        if cutoff is None:
            return None
        newest = dict(self._db.execute("SELECT asset_id, MAX(ts) FROM readings GROUP BY asset_id").fetchall())
        return cutoff, newest

    def reading_count(self) -> int:
        """Readings in the sample (normal or not)."""
        return int(self._db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])

    def normal_sample(
        self,
        *,
        margin_s: float,
        latest: Sequence[LabelledReading] | None = None,
        ends: Mapping[str, float] | None = None,
    ) -> list[Reading]:
        """The sampled readings not within ``margin_s`` of an alert episode or of a reading an operator
        confirmed as an anomaly, oldest first.

        The episode of an alert whose label that counts is ``normal`` (rejected: a false alarm) is not
        left out: the operator said those readings were normal operation, which is what the model
        must learn to accept. ``latest``: the store's ``latest_labels()`` when the caller has them
        already (a run reads them once, on the loop thread: about 20-40 µs a label on a 2-core
        machine). ``ends``: by alert id, where an episode of :meth:`open_episodes` ended
        (:func:`~pipeline.retrain.openepisodes.open_episode_ends`); one not named reaches to +inf.
        """
        latest = self.latest_labels() if latest is None else latest
        rejected = {r.alert_id for r in latest if r.alert_id is not None and r.y == 0}
        windows: dict[str, list[tuple[float, float]]] = {}
        # A fault an operator confirmed by its reading (one no alert caught) is no normal operation.
        for r in latest:
            if r.alert_id is None and r.y == 1:
                windows.setdefault(r.asset_id, []).append((r.ts - margin_s, r.ts + margin_s))
        for episode in self._episodes(ends):
            if episode.alert_id not in rejected:
                windows.setdefault(episode.asset_id, []).append(
                    (episode.start - margin_s, episode.end + margin_s)
                )
        bounds = {
            a: (np.array([w[0] for w in ws]), np.array([w[1] for w in ws])) for a, ws in windows.items()
        }
        out = []
        for asset, ts, values in self._db.execute(
            "SELECT asset_id, ts, values_json FROM readings ORDER BY ts, id"
        ):
            if asset in bounds:
                low, high = bounds[asset]
                if bool(((low <= ts) & (ts <= high)).any()):
                    continue
            out.append((str(asset), float(ts), json.loads(values)))
        return out

    def confirmed_episodes(
        self, latest: Sequence[LabelledReading] | None = None, ends: Mapping[str, float] | None = None
    ) -> dict[str, tuple[float, float]]:
        """The windows of the alert episodes an operator confirmed, by alert id: from their first faulty
        reading to their last (:meth:`_episodes`: an open one to +inf, or to the asset's next opening,
        or to its end in ``ends``), as :meth:`normal_sample` leaves them out. A retraining run leaves
        the parent's reference readings there out too
        (:func:`~pipeline.retrain.samples.away_from_faults`): a labelled alert names only its opening
        reading. ``latest`` and ``ends``: as for :meth:`normal_sample`.
        """
        latest = self.latest_labels() if latest is None else latest
        confirmed = {r.alert_id for r in latest if r.alert_id is not None and r.y == 1}
        return {e.alert_id: (e.start, e.end) for e in self._episodes(ends) if e.alert_id in confirmed}

    def open_episodes(self) -> list[tuple[str, str, float]]:
        """``(alert_id, asset_id, start)`` of each asset's newest episode that no event resolved: its
        window reaches to +inf unless the caller says where it ended (``ends`` of
        :meth:`normal_sample`)."""
        return [(e.alert_id, e.asset_id, e.start) for e in self._episodes() if e.unresolved and e.newest]

    def readings_of(self, asset_id: str, since: float) -> list[Reading]:
        """The sampled readings of ``asset_id`` dated ``since`` or later, oldest first."""
        rows = self._db.execute(
            "SELECT ts, values_json FROM readings WHERE asset_id = ? AND ts >= ? ORDER BY ts, id",
            (asset_id, since),
        )
        return [(asset_id, float(ts), json.loads(values)) for ts, values in rows]

    def _episodes(self, ends: Mapping[str, float] | None = None) -> list[_Window]:
        """Every alert episode, by asset and opening time, with the end that keeps readings out (for
        an asset's newest one never resolved, its end in ``ends``, else +inf)."""
        rows = self._db.execute(
            "SELECT alert_id, asset_id, opened_at, resolved_at, seen_at, COALESCE(started_at, opened_at)"
            " FROM alerts ORDER BY asset_id, opened_at"
        ).fetchall()
        out = []
        for i, (alert_id, asset, opened, resolved, seen, start) in enumerate(rows):
            newest = i + 1 == len(rows) or rows[i + 1][1] != asset
            end = float(resolved) if resolved is not None else math.inf
            if resolved is None and not newest:
                # An asset has one episode open at a time: one never resolved (its daemon restarted, or
                # its partition moved, while it was open, and its state was not carried over) ended
                # when the asset's next one opened, else the asset would give no normal reading for ever.
                end = float(rows[i + 1][2])
            elif resolved is None and ends and str(alert_id) in ends:
                end = max(float(opened), float(ends[str(alert_id)]))
            out.append(
                _Window(
                    str(alert_id),
                    str(asset),
                    float(opened),
                    min(float(start), float(opened)),
                    end,
                    resolved is None,
                    newest,
                    float(seen),
                )
            )
        return out

    def prune_alerts(
        self,
        *,
        seen_before: float,
        margin_s: float,
        latest: Sequence[LabelledReading] | None = None,
        now: float | None = None,
        limit: int | None = None,
    ) -> int:
        """Forget the alert episodes recorded before ``seen_before`` (the store's clock) that nothing
        needs any more; returns how many. An alert reaches the store at every episode, and every run
        reads the table whole: without this it grows for as long as the plant runs.

        Kept: an asset's newest episode (a label may still join it, and it may still be open), and
        an episode whose open predecessor is kept (that one ends where this one opens). The normal
        sample stays as it was: the readings an episode kept out of it go with the episode, and a
        rejected one kept none out. Its id and opening reading are kept (:mod:`pipeline.forgottenalerts`),
        and so are its labels (they carry their reading): a label by reading of
        that reading arriving later joins them, and so does one by the alert's id
        (:mod:`pipeline.forgottenalerts`): the newest answer counts. ``latest``: as for
        :meth:`normal_sample` (forgetting alerts changes no label, so one computation serves both).
        ``now``: the store's clock (default: this machine's), when they are forgotten.
        ``limit``: forget at most that many, those seen first (a backlog is forgotten over several calls).
        """
        latest = self.latest_labels() if latest is None else latest
        rejected = {r.alert_id for r in latest if r.alert_id is not None and r.y == 0}
        doomed, kept_before = [], False
        for i, episode in enumerate(windows := self._episodes()):
            open_before = i > 0 and windows[i - 1].asset_id == episode.asset_id and windows[i - 1].unresolved
            keep = episode.newest or episode.seen_at >= seen_before or (open_before and kept_before)
            kept_before = keep
            if not keep:
                doomed.append(episode)
        if limit is not None and len(doomed) > limit:
            doomed = sorted(doomed, key=lambda e: (e.seen_at, e.opened_at))[:limit]
        for episode in doomed:
            if episode.alert_id not in rejected:
                self._db.execute(
                    "DELETE FROM readings WHERE asset_id = ? AND ts BETWEEN ? AND ?",
                    (episode.asset_id, episode.start - margin_s, episode.end + margin_s),
                )
            self._db.execute("DELETE FROM alerts WHERE alert_id = ?", (episode.alert_id,))
            self._db.execute(
                "INSERT OR IGNORE INTO forgotten (alert_id, asset_id, opened_at, forgotten_at)"
                " VALUES (?, ?, ?, ?)",
                (episode.alert_id, episode.asset_id, episode.opened_at, time.time() if now is None else now),
            )
        return len(doomed)
