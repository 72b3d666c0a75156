"""Per-asset alert state with hysteresis, and the alert events it leads to.

An episode opens when ``open_after`` of the last ``window`` scores of an asset are over the threshold
(the opening score itself being one of them), and resolves after ``resolve_after`` consecutive normal
scores once ``resolve_hold_s`` seconds of record time have passed since its last score over the
threshold, or once ``quiet_s`` seconds of the daemon's clock pass without a score over the threshold
(an asset whose readings stayed normal, or that went silent). One episode is one ``open`` and one
``resolved`` event with the same ``alert_id``.

The hold keeps one fault one alert: a stuck sensor scores saturated or normal-looking by turns, and a
count of normal scores alone resolves its alert between two high stretches and opens another. It runs
on record time, as the scores' own times tell it, so a backlog read at speed holds as long as a live
stream, and from the latest record time of the episode's readings: a reading delivered late (dated
before one already scored) neither shortens nor stretches it. A clock stepped back keeps the hold
from ending until its readings pass their old times, at most ``quiet_s`` of the daemon's clock, when
the quiet time resolves the episode whatever the hold. An episode carried over (:meth:`adopt`) starts
the hold at its first reading here: the earlier owner's last high score is not in its open event.

Readings are not always dated in order (a gateway back-fills what it buffered, a device's clock is
reset): the resolved event also names the latest record time among the episode's readings
(``latest_ts``) and the earliest among those over the threshold (``earliest_ts``, at most the opening
reading's), so that the episode's faulty readings can be told by time whatever order they came in.

A reading delivered again (a producer's retry, a gateway's redelivery: the ts and sensor values of one
of the asset's last ``window`` readings, whatever it scored) counts once: one faulty reading delivered
three times opens nothing, nor one delivered again after a model swapped in scored it otherwise.

The id is derived from the Kafka position of the record that opened the episode, so replaying the same
records after a restart (at-least-once) yields the same id and consumers can deduplicate.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pipeline.alertstate import AssetState, Episode, Transition, reading_key
from pipeline.journal import Journal
from pipeline.tablefit import TableFit

if TYPE_CHECKING:
    from pipeline.alertroom import AssetRoom

__all__ = ["AlertTracker", "Transition", "parse_position"]


class AlertTracker(Journal):
    """Hysteresis state for the assets of one partition, with savepoints (:class:`~pipeline.journal.Journal`).

    Example
    -------
    >>> t = AlertTracker(open_after=2, window=3, resolve_after=2, quiet_s=60)
    >>> [t.observe("p1", s > 0.5, s, ts, now=ts, seed=str(ts)) for ts, s in enumerate([0.9, 0.1])]
    [None, None]
    >>> t.observe("p1", True, 0.8, 2, now=2, seed="2").kind
    'open'
    >>> t.observe("p1", False, 0.1, 3, now=3, seed="3") is None
    True
    >>> t.observe("p1", False, 0.2, 4, now=4, seed="4").resolved_by
    'normal_scores'
    """

    def __init__(
        self,
        *,
        open_after: int,
        window: int,
        resolve_after: int,
        quiet_s: float,
        resolve_hold_s: float = 0.0,
        backfill_s: float = 3600.0,
        room: AssetRoom | None = None,
    ) -> None:
        if not 1 <= open_after <= window:
            raise ValueError(f"need 1 <= open_after <= window, got {open_after} and {window}")
        if resolve_after < 1 or quiet_s <= 0 or not backfill_s >= 0 or not 0 <= resolve_hold_s < math.inf:
            raise ValueError(
                "resolve_after must be >= 1, quiet_s > 0, backfill_s >= 0 and 0 <= resolve_hold_s < inf"
            )
        self.open_after = open_after
        self.window = window
        self.resolve_after = resolve_after
        self.resolve_hold_s = resolve_hold_s  # record time since the last high score (see the module)
        self.quiet_s = quiet_s
        # How far back a faulty reading delivered late moves an episode's start: a back-filled stretch,
        # not a device clock reset to 1970, whose reading would keep (and, once the episode is
        # forgotten, take) all of the asset's normal readings since then out of the retraining sample.
        self.backfill_s = backfill_s
        # The cap on assets held (pipeline.alertroom), shared with the other partitions' trackers.
        self.room = room
        self._assets: dict[str, AssetState] = {}
        self._fit = TableFit()  # the table rebuilt once the assets left it (sweep)
        self._forgotten: list[str] = []
        self._due: list[tuple[str, str, bool]] = []
        self._journal: list[dict[str, Any]] = []  # savepoints (pipeline.journal)
        #: Readings that repeated one of their asset's last ``window`` (ts and sensor values): left out.
        self.repeats = 0

    def __len__(self) -> int:
        return len(self._assets)

    def __contains__(self, asset_id: object) -> bool:
        return asset_id in self._assets

    def is_open(self, asset_id: str) -> bool:
        """Whether the asset has an open episode."""
        state = self._assets.get(asset_id)
        return state is not None and state.episode is not None

    def set_context(self, asset_id: str, alert_id: str, context: Any) -> None:
        """Keep ``context`` (what the open event said) with the asset's episode ``alert_id`` for its
        resolution, if that episode is still open."""
        state = self._assets.get(asset_id)
        if state is not None and state.episode is not None and state.episode.alert_id == alert_id:
            self._touch(asset_id)
            state.episode.context = context

    def adopt(self, episode: Transition, *, now: float) -> bool:
        """Carry on an episode that an earlier owner of the partition opened (its ``open`` event, read
        back from the alerts topic): it resolves as if this tracker had opened it, after
        ``resolve_after`` normal scores (``resolve_hold_s`` after its first reading here, or a later high
        one) or ``quiet_s`` without a high one from ``now``, under its own ``alert_id`` and with what its
        open event said. False (nothing done) when the asset already has
        state here.

        >>> t = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
        >>> t.adopt(Transition("open", "a9", "p1", 5.0, 5.0, 0.9, None, source="in/0/7"), now=0)
        True
        >>> t.observe("p1", True, 0.8, 6, now=1, seed="in/0/8")  # the fault goes on: no second open
        >>> resolved = t.observe("p1", False, 0.1, 7, now=2, seed="in/0/9")
        >>> resolved.alert_id, resolved.opened_at, resolved.source
        ('a9', 5.0, 'in/0/7')
        """
        if episode.asset_id in self._assets:
            return False
        offset = (parse_position(episode.source) or ("", 0, None))[2]
        state = self._take_over(episode.asset_id, now, offset, episode.ts)
        state.episode = Episode(
            episode.alert_id,
            episode.opened_at,
            episode.score,
            episode.ts,
            episode.context,
            episode.source,
            episode.source,
            earliest_ts=episode.opened_at
            if episode.earliest_ts is None
            else min(episode.opened_at, episode.earliest_ts),
            movable=True,
        )
        return True

    def replayed(self, asset_id: str, offset: int, *, ts: float, now: float) -> bool:
        """Note that an earlier owner of the partition resolved an episode of ``asset_id`` whose last
        record was at ``offset``, of record time ``ts`` (its ``resolved`` event, read back from the
        alerts topic): records of the asset up to that offset and time, met again after a crash between
        delivery and commit, were already accounted for by that episode, and neither open nor resolve
        one again. False (nothing done) when the asset already has state here.

        >>> t = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
        >>> t.replayed("p1", 8, ts=8.0, now=0)
        True
        >>> t.observe("p1", True, 0.9, 7, now=1, seed="in/0/7", offset=7)  # resolved already: nothing
        >>> t.observe("p1", True, 0.9, 9, now=2, seed="in/0/9", offset=9).kind  # a new fault
        'open'
        """
        if asset_id in self._assets:
            return False
        self._take_over(asset_id, now, offset + 1, ts)
        return True

    def _take_over(self, asset_id: str, now: float, replayed_until: int | None, ts: float) -> AssetState:
        self._touch(asset_id)
        state = self._assets[asset_id] = AssetState(self.window)
        state.last_seen_at = state.last_over_at = now
        state.replayed_until, state.replayed_ts = replayed_until, ts
        return state

    def observe(
        self,
        asset_id: str,
        over: bool,
        score: float,
        ts: float,
        *,
        now: float,
        seed: str,
        index: int | None = None,
        offset: int | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> Transition | None:
        """Feed one score (``over``: above the threshold) at record time ``ts`` and clock ``now``.

        ``seed`` identifies the record (its Kafka position): it becomes the alert id if it opens one,
        and a resolved event names the episode's last record by it (``last_source``). ``offset`` is
        the record's offset, which tells the records already accounted for by the events of an earlier
        owner (:meth:`adopt`, :meth:`replayed`), met again after a crash; they leave the state as it is.
        ``values``, the sensor values the record carried, tell the reading with ``ts`` (without them, ``ts``
        alone does): one of the asset's last ``window`` delivered again is counted in :attr:`repeats`
        and left out, whatever it scored.
        """
        self._touch(asset_id)
        state = self._assets.get(asset_id)
        if state is not None and state.replayed_until is not None:
            if offset is not None and offset < state.replayed_until and ts <= state.replayed_ts:
                # Met again: the earlier owner scored it into the events the alerts topic holds. It
                # says the asset is sending (and, over, that a fault goes on), and nothing else.
                state.last_seen_at = now
                state.last_over_at = now if over else state.last_over_at
                return None
            if offset is None or offset >= state.replayed_until:
                state.replayed_until = None
        seen = reading_key(ts, values)
        if state is not None and seen in state.seen:  # the same reading delivered again: counted once
            state.last_seen_at = now
            self.repeats += 1
            return None
        if state is None:
            if self.room is not None and not self.room.admit(now):
                return None  # no room: every asset held has an open alert
            state = self._assets[asset_id] = AssetState(self.window)
        if len(state.seen) >= self.window:
            del state.seen[0]
        state.seen.append(seen)
        state.last_seen_at = now
        if len(state.recent) == self.window and state.recent[0]:
            state.overs -= 1
        state.recent.append(over)
        if over:
            state.overs += 1
            state.normal_run = 0
            state.last_over_at = now
        else:
            state.normal_run += 1
        episode = state.episode
        if episode is None:
            if over and state.overs >= self.open_after:
                alert_id = hashlib.blake2b(f"{seed}|{asset_id}".encode(), digest_size=10).hexdigest()
                state.episode = Episode.opened(alert_id, ts, score, seed)
                return Transition("open", alert_id, asset_id, ts, ts, score, index, source=seed)
            return None
        episode.last_score, episode.last_ts, episode.last_source = score, ts, seed
        episode.held_until = None  # a silence after this one waits again (settle)
        episode.latest_ts = max(episode.latest_ts, ts)
        if over or episode.high_ts == -math.inf:  # carried over: its first reading here starts the hold
            episode.high_ts = max(episode.high_ts, ts)
        if over and ts >= episode.opened_at - self.backfill_s:  # a back-filled reading of the fault
            episode.earliest_ts = min(episode.earliest_ts, ts)
        if state.normal_run >= self.resolve_after and (
            not self.resolve_hold_s or episode.latest_ts - episode.high_ts >= self.resolve_hold_s
        ):
            return self._resolve(asset_id, state, ts, score, index, "normal_scores")
        return None

    def sweep(self, now: float, *, vet: bool = False) -> list[Transition]:
        """Resolve the episodes that saw no score over the threshold for ``quiet_s`` seconds, and forget
        the assets without an open episode that sent nothing for ``quiet_s`` seconds: a fleet whose
        asset ids come and go over months would otherwise grow this state without end. A forgotten
        asset starts afresh, as an episode must be earned afresh after a quiet time.

        With ``vet``, a silence of an episode whose asset may have moved to another partition (one
        carried over, or open when the assignment changed: :meth:`mark_movable`) is not resolved but
        left to :meth:`settle`, listed by :meth:`take_due` (once held back, not before its time).

        >>> t = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
        >>> t.observe("a", False, 0.1, 0, now=0, seed="0"), t.observe("b", True, 0.9, 0, now=0, seed="1").kind
        (None, 'open')
        >>> [tr.asset_id for tr in t.sweep(now=30)], len(t)
        ([], 2)
        >>> [tr.resolved_by for tr in t.sweep(now=60)], len(t)  # "a" forgotten, "b" resolved: it fell silent
        (['silence'], 1)
        >>> t.sweep(now=61), len(t)
        ([], 0)
        """
        out, idle = [], []
        for asset_id, state in self._assets.items():
            episode = state.episode
            if episode is not None and now - state.last_over_at >= self.quiet_s:
                # "silence": not one reading for quiet_s, which is no sign of recovery
                cause = "silence" if now - state.last_seen_at >= self.quiet_s else "quiet_time"
                if cause == "silence" and vet and episode.movable:
                    if episode.held_until is None or now >= episode.held_until:
                        self._due.append((asset_id, episode.alert_id, episode.held_until is not None))
                    continue
                self._touch(asset_id)
                out.append(self._resolve(asset_id, state, episode.last_ts, episode.last_score, None, cause))
            elif episode is None and now - state.last_seen_at >= self.quiet_s:
                idle.append(asset_id)
        self._fit.note(self._assets)
        for asset_id in idle:
            self._touch(asset_id)
            del self._assets[asset_id]
        self._assets = self._fit.fit(self._assets)  # after a burst of ids, each sweep walks the fleet's
        self._forgotten.extend(idle)
        return out

    def take_due(self) -> list[tuple[str, str, bool]]:
        """The silences :meth:`sweep` left to :meth:`settle` since the last call: ``(asset_id, alert_id,
        held back before)``."""
        due, self._due = self._due, []
        return due

    def settle(self, asset_id: str, verdict: str, *, until: float) -> Transition | None:
        """Settle a silence of :meth:`take_due`: ``"silence"`` resolves it as :meth:`sweep` would;
        ``"wait"`` holds it back until ``until``; ``"handed_over"`` drops the asset (its episode goes on
        on another partition) and returns the episode as resolved so, which no event says.

        >>> t = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
        >>> t.adopt(Transition("open", "a9", "p1", 5.0, 5.0, 0.9, None, source="in/0/7"), now=0)
        True
        >>> t.sweep(60, vet=True), t.take_due()
        ([], [('p1', 'a9', False)])
        >>> t.settle("p1", "wait", until=90), t.sweep(89, vet=True), t.sweep(90, vet=True), t.take_due()
        (None, [], [], [('p1', 'a9', True)])
        >>> t.settle("p1", "handed_over", until=0).resolved_by, len(t)
        ('handed_over', 0)
        """
        state = self._assets.get(asset_id)
        if state is None or state.episode is None:
            return None
        self._touch(asset_id)
        episode = state.episode
        if verdict == "wait":
            episode.held_until = until
            return None
        resolved = self._resolve(asset_id, state, episode.last_ts, episode.last_score, None, verdict)
        if verdict == "handed_over":
            del self._assets[asset_id]
        return resolved

    def mark_movable(self) -> None:
        """Note that the open episodes' assets may have moved to another partition (the assignment
        changed: partitions may have been added): their silences are vetted (:meth:`sweep`)."""
        for asset_id, state in self._assets.items():
            if state.episode is not None and not state.episode.movable:
                self._touch(asset_id)
                state.episode.movable = True

    def idle(self) -> Iterator[tuple[float, str]]:
        """``(last seen, asset id)`` of the assets without an open episode, those :meth:`evict` may drop."""
        return ((state.last_seen_at, a) for a, state in self._assets.items() if state.episode is None)

    def evict(self, asset_id: str) -> None:
        """Forget ``asset_id`` (one of :meth:`idle`'s) to make room: it starts afresh, as after a quiet
        time."""
        self._touch(asset_id)
        del self._assets[asset_id]
        self._forgotten.append(asset_id)

    def take_forgotten(self) -> list[str]:
        """The assets :meth:`sweep` or :meth:`evict` forgot since the last call (their per-asset metrics
        can go too)."""
        gone, self._forgotten = self._forgotten, []
        return gone

    def _resolve(
        self, asset_id: str, state: AssetState, ts: float, score: float, index: int | None, by: str
    ) -> Transition:
        episode = state.episode
        assert episode is not None
        state.episode = None
        # A new episode must be earned again from scratch, not from the tail of this one.
        state.recent.clear()
        state.overs = 0
        state.normal_run = 0
        return Transition(
            "resolved",
            episode.alert_id,
            asset_id,
            episode.opened_at,
            ts,
            score,
            index,
            by,
            episode.context,
            episode.source,
            episode.last_source,
            episode.latest_ts if math.isfinite(episode.latest_ts) else None,
            min(episode.earliest_ts, episode.opened_at),
        )


def parse_position(source: object) -> tuple[str, int, int] | None:
    """``(topic, partition, offset)`` of a ``topic/partition/offset`` position, else None.

    >>> parse_position("in/2/41"), parse_position("in5"), parse_position(None)
    (('in', 2, 41), None, None)
    """
    try:
        topic, partition, offset = str(source).rsplit("/", 2)
        return topic, int(partition), int(offset)
    except ValueError:
        return None
