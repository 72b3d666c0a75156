"""Open alert episodes carried across restarts and partition moves, read back from the alerts topic.

An asset's alert state lives in the daemon that owns its partition. A daemon that starts (a rollout, a
crash) or takes a partition over (a scale-out, a failed member) would otherwise meet an ongoing fault
with no state: it would open the fault a second time under a new ``alert_id``, and nothing would ever
resolve the first one, nor an episode whose fault ended while no daemon watched.

So when a partition comes without its state, the daemon reads the alerts topic's events of the last
``alerts.carry_over_s`` seconds (:func:`read_alert_events`) and carries on every episode that was
opened on a record of that partition (the open event's ``source``) and that no event resolved
(:func:`open_episodes`, then :meth:`AlertTracker.adopt <pipeline.alerts.AlertTracker.adopt>`). Such an
episode resolves like one the daemon opened itself, under its ``alert_id`` and with what its open event
said: after ``alerts.resolve_after`` normal scores, or ``alerts.quiet_s`` seconds without a high one
(an asset that went silent while no daemon ran). A fault that goes on stays one episode.

Every event a daemon produces is acknowledged before it commits the offsets behind it, so the topic
holds at least the state of the committed offsets. After a crash it may hold more (a batch delivered,
its commit lost). The records processed again then neither open nor resolve those episodes a second
time: an open episode goes on from its opening record (``source``), and an asset's records up to the
last one its resolved episodes accounted for (the furthest ``last_source`` of their resolved events),
and dated no later than the latest of their records, leave its state as it is
(:meth:`EpisodeFold.replayed`, :meth:`AlertTracker.replayed <pipeline.alerts.AlertTracker.replayed>`).
Without that, the records after the committed offset, scored with none of the history before it,
could raise the fault again at another record, under another ``alert_id``.

Not carried on: an episode whose open event the topic no longer holds (opened before ``carry_over_s``,
or past the topic's retention), or written by a version that did not name its source, or of another
``schema`` than 1 (an incompatible change of the alert contract); nor, after a crash, a resolved
episode written by a version that did not name its last record. Fields an event has that this version
does not know are left out of what a carried episode says again.

An episode whose asset moved to another partition because the input topic got more partitions (its
key hashes anew) is not found by its partition: the read also keeps the episodes left open on the
other partitions (:meth:`EpisodeFold.elsewhere`), which the asset's new owner takes over at its first
record there, and the old owner drops when it finds that, rather than resolve it by silence
(:mod:`pipeline.handover`, which says when it is not handed over).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from pipeline.alertevents import sensor_numbers
from pipeline.alerts import Transition, parse_position
from pipeline.brokerlink import new_consumer
from pipeline.config import KafkaSettings
from pipeline.recordjson import is_schema_1

__all__ = ["EpisodeFold", "open_episodes", "read_alert_events"]

log = logging.getLogger(__name__)

_POLL_MS = 200
_MAX_SENSORS = 100  # alerts.top_sensors is at most this
# How many of an asset's episodes resolved a read remembers, whose open events read again (a replay after
# a crash, a partition's owner before the episode moved) are no open episode.
_RESOLVED_KEPT = 8


def open_episodes(events: Iterable[Mapping[str, Any]], *, input_topic: str) -> dict[int, list[Transition]]:
    """The episodes that ``events`` (alert events in topic order) leave open, by the partition of
    ``input_topic`` whose record opened them, as open transitions carrying what their event said
    (:class:`EpisodeFold` over them all).

    >>> opened = {"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 5.0, "ts": 5.0,
    ...           "score": 0.9, "source": "in/2/41", "top_sensors": [], "values": {"flow": 1.0}}
    >>> found = open_episodes([opened], input_topic="in")
    >>> [(tp, t.alert_id, t.context) for tp, ts in found.items() for t in ts]
    [(2, 'a1', ([], {'flow': 1.0}, None, []))]
    >>> open_episodes([opened, opened | {"state": "resolved", "ts": 9.0}], input_topic="in")
    {}
    """
    fold = EpisodeFold(input_topic)
    for event in events:
        fold.add(event)
    return fold.result()


class EpisodeFold:
    """Alert events folded one at a time into the episodes they leave open, of the partitions of
    ``input_topic`` named in ``partitions`` (all when None), so that a read keeps no more than those,
    and into each asset's last record that a resolved episode accounted for (:meth:`replayed`).

    An asset has one episode open at a time: of two left open (the older one orphaned by a version that
    did not carry episodes over, or one the asset's new partition took over), the newer one is kept.
    Events that are not alert events, or whose source is another topic, are skipped. With
    ``elsewhere``, the episodes left open on the other partitions are kept too, one per asset
    (:meth:`elsewhere`): those of assets whose readings may come here now (:mod:`pipeline.handover`).
    What it holds follows the assets it met, not the events: of the episodes resolved, the last
    :data:`_RESOLVED_KEPT` of each asset, whose open events read again after them are not open. With
    ``max_assets``, of at most that many assets, those whose last resolution it met latest: a producer
    making asset ids up leaves a week of the topic naming ever new ones. The others' resolutions are
    forgotten (counted in :attr:`evicted`), never an episode left open.

    >>> fold = EpisodeFold("in", max_assets=2)
    >>> opened = {"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 5.0, "ts": 5.0,
    ...           "score": 0.9, "source": "in/0/41"}
    >>> fold.add(opened)  # p1 stays open while three others resolve
    >>> for asset in ("p2", "p3", "p4"):
    ...     other = opened | {"alert_id": asset, "asset_id": asset}
    ...     fold.add(other)
    ...     fold.add(other | {"state": "resolved", "last_source": "in/0/42"})
    >>> [t.alert_id for t in fold.result()[0]], sorted(fold.replayed()[0]), fold.evicted
    (['a1'], ['p3', 'p4'], 1)
    """

    def __init__(
        self,
        input_topic: str,
        partitions: Iterable[int] | None = None,
        *,
        elsewhere: bool = False,
        max_assets: int | None = None,
    ) -> None:
        self.input_topic = input_topic
        self.partitions = None if partitions is None else set(partitions)
        self._all = elsewhere or self.partitions is None
        self.max_assets = max_assets
        #: Assets whose resolutions were forgotten to hold those of ``max_assets``.
        self.evicted = 0
        self._latest: dict[str, tuple[int, Transition]] = {}
        # Each asset's last few episodes resolved (the newest last): an open event read again after its
        # resolution is no open episode. A few per asset, not every one the read met: the read spans
        # alerts.carry_over_s of the topic, and its episodes come and go by the week. In the order of
        # their last resolution met, the oldest first (evicted first past max_assets).
        self._resolved: dict[str, tuple[str, ...]] = {}
        # asset -> partition -> the offset and record time of the last record a resolved episode took
        self._until: dict[str, dict[int, tuple[int, float]]] = {}

    def add(self, event: Mapping[str, Any]) -> None:
        """Fold one event (in its partition's order)."""
        parsed = _parse(event, self.input_topic)
        ours = parsed is not None and (self.partitions is None or parsed[0] in self.partitions)
        if parsed is None or not (ours or self._all):
            return
        partition, episode = parsed
        if episode.kind == "resolved":
            self._note_resolved(episode.asset_id, episode.alert_id)
        if episode.kind == "resolved" and not ours:
            held = self._latest.get(episode.asset_id)
            if held is not None and held[1].alert_id == episode.alert_id:
                del self._latest[episode.asset_id]
            return
        if episode.kind == "resolved":
            last = parse_position(episode.last_source)
            latest = max(episode.ts, episode.latest_ts or -math.inf)
            # The furthest record and the latest record time of all of them, each on its own: the
            # records met again may be of several episodes, whose times need not follow their offsets
            # (readings out of order, a clock stepped back), and after an input topic was recreated
            # its episodes are later in time though lower in offset than the old topic's.
            mine = last is not None and last[:2] == (self.input_topic, partition)
            if mine:
                until = self._until.setdefault(episode.asset_id, {})
                held = until.get(partition, (-1, -math.inf))
                until[partition] = (max(held[0], last[2]), max(held[1], latest))  # type: ignore[index]
            held = self._latest.get(episode.asset_id)
            if held is not None and held[1].alert_id == episode.alert_id:
                del self._latest[episode.asset_id]
            return
        if episode.alert_id in self._resolved.get(episode.asset_id, ()):
            return  # an open event read again after its resolution
        held = self._latest.get(episode.asset_id)
        if held is None or held[1].opened_at <= episode.opened_at:
            self._latest[episode.asset_id] = (partition, episode)

    def _note_resolved(self, asset_id: str, alert_id: str) -> None:
        """Remember ``alert_id`` among the last :data:`_RESOLVED_KEPT` episodes of ``asset_id`` resolved."""
        kept = tuple(a for a in self._resolved.pop(asset_id, ()) if a != alert_id)
        self._resolved[asset_id] = (*kept[1 - _RESOLVED_KEPT :], alert_id)
        while self.max_assets is not None and len(self._resolved) > self.max_assets:
            oldest = next(iter(self._resolved))
            del self._resolved[oldest]
            self._until.pop(oldest, None)
            self.evicted += 1

    def result(self) -> dict[int, list[Transition]]:
        """The episodes left open, by partition (of ``partitions``)."""
        out: dict[int, list[Transition]] = {}
        for partition, episode in self._latest.values():
            if self.partitions is None or partition in self.partitions:
                out.setdefault(partition, []).append(episode)
        return out

    def elsewhere(self) -> dict[str, tuple[int, Transition]]:
        """With ``elsewhere``: by asset, the episode left open on a partition not of ``partitions``, and
        that partition; the newer one of an asset open here too is kept (:meth:`result` or this).

        >>> fold = EpisodeFold("in", [3], elsewhere=True)
        >>> opened = {"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 5.0, "ts": 5.0,
        ...           "score": 0.9, "source": "in/0/41"}
        >>> fold.add(opened)
        >>> fold.result(), [(a, p, t.alert_id) for a, (p, t) in fold.elsewhere().items()]
        ({}, [('p1', 0, 'a1')])
        >>> fold.add(opened | {"ts": 8.0, "source": "in/3/2"})  # taken over on partition 3
        >>> [(p, t.alert_id) for p, ts in fold.result().items() for t in ts], fold.elsewhere()
        ([(3, 'a1')], {})
        """
        mine = self.partitions
        return {a: held for a, held in self._latest.items() if mine is not None and held[0] not in mine}

    def replayed(self) -> dict[int, dict[str, tuple[int, float]]]:
        """By partition, the assets with no episode left open there whose resolved episodes there
        named their last record (``last_source``), with the furthest such record's offset and the
        latest record time among those episodes (the events' ``latest_ts``, or ``ts``): records up to
        both are accounted for (:meth:`AlertTracker.replayed <pipeline.alerts.AlertTracker.replayed>`).

        >>> fold = EpisodeFold("in")
        >>> opened = {"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 5.0, "ts": 5.0,
        ...           "score": 0.9, "source": "in/2/41"}
        >>> fold.add(opened)
        >>> fold.add(opened | {"state": "resolved", "ts": 9.0, "last_source": "in/2/57"})
        >>> fold.result(), fold.replayed()
        ({}, {2: {'p1': (57, 9.0)}})
        """
        out: dict[int, dict[str, tuple[int, float]]] = {}
        for asset_id, partitions in self._until.items():
            held = self._latest.get(asset_id)
            for partition, until in partitions.items():
                if held is None or held[0] != partition:
                    out.setdefault(partition, {})[asset_id] = until
        return out


def _parse(event: Mapping[str, Any], input_topic: str) -> tuple[int, Transition] | None:
    """``(partition, transition)`` of an alert event of schema 1 whose source is ``input_topic``, else
    None."""
    if not is_schema_1(event):
        return None
    try:
        kind, alert_id, asset_id = event["state"], event["alert_id"], event["asset_id"]
        opened_at, ts, score = (float(event[k]) for k in ("opened_at", "ts", "score"))
        topic, partition_number, _ = parse_position(event["source"]) or ("", 0, 0)
    except (KeyError, TypeError, ValueError):
        return None
    if (
        kind not in ("open", "resolved")
        or not isinstance(alert_id, str)
        or not isinstance(asset_id, str)
        or topic != input_topic
        or not all(math.isfinite(x) for x in (opened_at, ts, score))
    ):
        return None
    sensors = _sensors(event.get("top_sensors"))
    # The sensors the open event said were imputed; None for one written before events said so.
    imputed = event.get("imputed") if isinstance(event.get("imputed"), list) else []
    said = any("imputed" in s for s in sensors) or "imputed" in event
    context = (
        sensors,
        sensor_numbers(event.get("values") or {}),
        [str(x) for x in imputed] if said else None,
        _sensors(event.get("suspect_sensors")),  # none for an event written before alerts had them
    )
    transition = Transition(
        kind,
        alert_id,
        asset_id,
        opened_at,
        ts,
        score,
        None,
        context=context,
        source=event["source"],
        last_source=event.get("last_source"),
        latest_ts=_finite(event.get("latest_ts")),
        earliest_ts=_finite(event.get("earliest_ts")),
    )
    return partition_number, transition


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _sensors(value: Any) -> list[dict[str, Any]]:
    """The ``top_sensors`` (or ``suspect_sensors``) an open event said, to say again at the resolution:
    its entries that are objects of flat values (or lists of them), so that they serialise again
    (orjson reads deeper nesting than it writes, and an episode that cannot be written cannot resolve)."""
    if not isinstance(value, list):
        return []
    return [e for e in value[:_MAX_SENSORS] if isinstance(e, dict) and all(map(_flat, e.values()))]


def _flat(value: Any) -> bool:
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, scalar) or (
        isinstance(value, list) and all(isinstance(x, scalar) for x in value)
    )


def read_alert_events(
    kafka: KafkaSettings,
    bootstrap_servers: str,
    *,
    since: float,
    timeout_s: float,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> list[dict[str, Any]]:
    """Every alert event on ``kafka.topics.alerts`` written at or after ``since`` (epoch seconds), in
    each partition's order; values that are not JSON objects are skipped. With ``on_event``, each is
    handed to it as read and none is kept (the list comes back empty). Reads up to each partition's
    high watermark at the time of reading; raises :class:`kafka.errors.KafkaTimeoutError` when that
    takes over ``timeout_s`` (a half-read topic could carry on an episode that was resolved), or once
    ``stopping()`` (the daemon is shutting down, and the read would hold up its close).
    """
    deadline = time.monotonic() + timeout_s
    topic = kafka.topics.alerts

    def left_ms() -> int:
        """What is left of the time, for each call that may wait on the broker."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise KafkaTimeoutError(f"reading {topic} took over {timeout_s:g}s")
        if stopping():
            raise KafkaTimeoutError(f"reading {topic} given up: stopping")
        return max(1, int(left * 1000))

    consumer = new_consumer(kafka, bootstrap_servers, member=False)
    try:
        left_ms()
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return []
        consumer.assign(tps)
        since_ms = max(0, int(since * 1000))  # a lookback longer than since 1970: the whole topic
        starts = consumer.offsets_for_times(dict.fromkeys(tps, since_ms), timeout_ms=left_ms())
        ends = consumer.end_offsets(tps, timeout_ms=left_ms())
        for tp in tps:
            start = starts.get(tp)
            consumer.seek(tp, ends[tp] if start is None else start.offset)
        events: list[dict[str, Any]] = []
        keep = events.append if on_event is None else on_event
        # The high watermark of the partition's last fetch: end_offsets alone is not enough, as one
        # embedded broker reports the last record batch's first offset + 1 there.
        while not all(
            (high := consumer.highwater(tp)) is not None
            and consumer.position(tp, timeout_ms=left_ms()) >= max(high, ends[tp])
            for tp in tps
        ):
            for records in consumer.poll(timeout_ms=min(_POLL_MS, left_ms())).values():
                for record in records:
                    if record.timestamp < since_ms:  # a broker may start a partition earlier
                        continue
                    try:
                        value = orjson.loads(record.value)
                    except (orjson.JSONDecodeError, TypeError):
                        continue
                    if isinstance(value, dict):
                        keep(value)
        return events
    finally:
        consumer.close(autocommit=False, timeout_ms=_POLL_MS)
