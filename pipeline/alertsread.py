"""The alert episodes ``dhag-pipeline alerts`` and ``label`` list, built from the records of the alerts
topic and the labels topic (:func:`~pipeline.alertscmd.read_episodes` reads them): one entry per
episode, each with its valid labels in the label store's order."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from dhag.infotext import shown_name
from pipeline.alertepisodes import Episode, _as_they_came, _once, _written_at, event_time, other_schema_note
from pipeline.alertid import id_refusal
from pipeline.alertsince import labels_from
from pipeline.config import Settings
from pipeline.consoletopics import TopicMissingError
from pipeline.labelorder import Answer, given_rank, opened_on
from pipeline.labels import LabelError, Source, parse_label
from pipeline.recordjson import decode, is_schema_1
from pipeline.retrain.alertfeed import AlertEventError, checked_alert_event

__all__ = [
    "RetrainerKeeps",
    "alert_document",
    "episodes_from",
    "unlabellable_note",
    "unlabellable_refusal",
    "unreadable_note",
    "why_unreadable",
]

#: How many of the records left out as unreadable the note names, with where they lie and why.
_NAMED = 3


def alert_document(raw: bytes) -> Any:
    """The JSON document of an alerts topic's record, as the daemon's records are decoded
    (:func:`pipeline.recordjson.decode`): ``NaN`` and ``Infinity``, which another writer than the daemon
    (Python's ``json``, a replay tool) writes for a number that is none, are read as such numbers, which
    the consoles show as unknown, rather than the whole event refused as not JSON;
    :class:`ValueError` for what is not JSON.

    >>> alert_document(b'{"score": NaN, "threshold": Infinity}')
    {'score': nan, 'threshold': inf}
    """
    return decode(raw)


def unreadable_note(unreadable: list[tuple[Any, str]], count: int, topic: str) -> str:
    """What ``alerts`` and ``label`` say on stderr of the ``count`` records of ``topic`` they left out as
    no alert event they can read, naming the first of ``unreadable`` (each a record and why).

    >>> from types import SimpleNamespace as R
    >>> print(unreadable_note([(R(partition=0, offset=7), "not JSON")], 1, "anomaly-alerts"))
    left out 1 record of anomaly-alerts that is no alert event this release can read (partition 0 offset \
7: not JSON): no alert it may tell of is listed; the daemons write none such, so look at what else \
writes to the topic
    """
    named = "; ".join(
        f"partition {getattr(record, 'partition', '?')} offset {getattr(record, 'offset', '?')}: {why}"
        for record, why in unreadable[:_NAMED]
    )
    more = f"; and {count - _NAMED} more" if count > _NAMED else ""
    one = count == 1
    return (
        f"left out {count} record{'' if one else 's'} of {topic} that {'is' if one else 'are'} no alert "
        f"event this release can read ({named}{more}): no alert {'it' if one else 'they'} may tell of is "
        "listed; the daemons write none such, so look at what else writes to the topic"
    )


class RetrainerKeeps:
    """Which alerts the retrainer keeps an event of, of the events :meth:`read` (as the retrainer reads
    them, :func:`~pipeline.retrain.alertfeed.checked_alert_event`): a label of an alert none of whose
    events it keeps waits for an alert that never comes and is dead-lettered. ``alerts`` and the demo's
    screen judge by it which alerts can be labelled.

    >>> judged = RetrainerKeeps()
    >>> judged.read("a1", {"alert_id": "a1", "asset_id": 42, "state": "open", "opened_at": 5, "ts": 5})
    >>> judged.refusal("a1")
    ('asset_id', 'asset_id must be a printable string of 1 to 256 characters, got 42')
    >>> judged.read("a1", {"alert_id": "a1", "asset_id": "p1", "state": "resolved", "opened_at": 5, "ts": 9})
    >>> judged.refusal("a1") is None
    True
    """

    def __init__(self) -> None:
        self.kept: set[str] = set()
        self.refused: dict[str, tuple[str, str]] = {}  # the field of the first event it refuses, and why

    def read(self, alert_id: str, event: Any) -> None:
        """One event of the alert ``alert_id`` (its document, decoded)."""
        try:
            checked_alert_event(event)
            self.kept.add(alert_id)
        except AlertEventError as exc:
            self.refused.setdefault(alert_id, (exc.field or "event", str(exc)))

    def refusal(self, alert_id: str) -> tuple[str, str] | None:
        """Why no label of the alert can count, the first of its events read that the retrainer refuses:
        the field and why; None when it keeps one of them, or none was read."""
        return None if alert_id in self.kept else self.refused.get(alert_id)


def unlabellable_note(episodes: Iterable[Episode], topic: str) -> str | None:
    """What ``alerts`` says on stderr of the episodes listed that cannot be labelled
    (:attr:`~pipeline.alertepisodes.Episode.unlabellable`), naming the first with why; None when none.

    >>> print(unlabellable_note([Episode("a1", "42", 5.0, None, None, [], unlabellable=("asset_id",
    ...     "asset_id must be a printable string of 1 to 256 characters, got 42"))], "anomaly-alerts"))
    1 episode listed cannot be labelled (not labellable in LABEL): the retrainer refuses its events on \
anomaly-alerts (a1: asset_id must be a printable string of 1 to 256 characters, got 42), so it keeps no \
such alert and would dead-letter a label of it; the daemons write none such, so look at what else \
writes to the topic
    """
    refused = [e for e in episodes if e.unlabellable is not None]
    if not refused:
        return None
    named = "; ".join(
        f"{shown_name(e.alert_id)}: {e.unlabellable[1]}" for e in refused[:_NAMED] if e.unlabellable
    )
    more = f"; and {len(refused) - _NAMED} more" if len(refused) > _NAMED else ""
    one = len(refused) == 1
    return (
        f"{len(refused)} episode{'' if one else 's'} listed cannot be labelled (not labellable in LABEL): "
        f"the retrainer refuses {'its' if one else 'their'} events on {topic} ({named}{more}), so it keeps "
        f"no such alert and would dead-letter a label of {'it' if one else 'one'}; the daemons write none "
        "such, so look at what else writes to the topic"
    )


def unlabellable_refusal(alert_id: str, why: str, settings: Settings) -> str:
    """Why ``label`` refuses an alert whose events the retrainer refuses each (``why``: the first's
    refusal), which it would dead-letter a label of.

    >>> print(unlabellable_refusal("a1", "model_version must be a printable string of 1 to 256 characters,"
    ...                            " got ''", Settings()))
    alert 'a1' cannot be labelled: the retrainer refuses its events on anomaly-alerts (model_version \
must be a printable string of 1 to 256 characters, got ''), so it keeps no such alert and would \
dead-letter a label of it; the daemons write none such, so look at what else writes to the topic; no \
label was written
    """
    return (
        f"alert {alert_id!r} cannot be labelled: the retrainer refuses its events on "
        f"{settings.kafka.topics.alerts} ({why}), so it "
        "keeps no such alert and would dead-letter a label of it; the daemons write none such, so look at "
        "what else writes to the topic; no label was written"
    )


def why_unreadable(exc: Exception, event: Any) -> str:
    """Why an alerts topic's record is no alert event (``event``: its document, None when it is not
    JSON), in a few words, with its alert id when it has one; escaped, as the table's cells are."""
    if event is None:
        return "not JSON" if isinstance(exc, json.JSONDecodeError) else shown_name(str(exc))[:120]
    if not isinstance(event, dict):
        return f"a JSON {type(event).__name__}, not an object"
    alert = event.get("alert_id")
    named = f"alert {shown_name(str(alert))}: " if isinstance(alert, str | int) else ""
    why = f"no {exc.args[0]}" if isinstance(exc, KeyError) else str(exc)
    return named + shown_name(why)[:120]


def episodes_from(
    settings: Settings,
    alerts: Iterable[Any],
    labels: Callable[[float | None], Iterable[Any]],
    since: float | None = None,
    say: Callable[[str], None] | None = None,
    unread: dict[str, str] | None = None,
    only: str | None = None,
    later_assets: dict[str, str] | None = None,
) -> dict[str, Episode]:
    """Alert episodes by id from the records of the alerts topic (``alerts``), with their valid labels from
    those ``labels(early)`` gives: the records of the labels topic written since ``early`` (None: all;
    an empty iterable, or :class:`~pipeline.consoletopics.TopicMissingError` when it is iterated, for no
    labels topic yet).

    ``since``: the alerts were read from what was written at or after that time, and only the episodes
    opened since then are kept: an open event read and ``opened_at`` not before it. One opened earlier
    (resolved since, or said open again by a daemon that took it over) may have labels older than
    ``since``, which were not read: it is left out rather than shown without them. ``say`` is told of
    events of another schema, and of a labels topic not there while episodes are listed; ``unread`` is
    given the alert ids of the events of another schema than 1, each with its schema (a later release's),
    and ``later_assets`` the asset ids they name.
    ``only``: the alert whose labels are wanted (``label``'s): the labels are not read when it is not
    among the episodes (``label`` refuses it)."""
    episodes: dict[str, Episode] = {}
    opened: set[str] = set()
    others: Counter[str] = Counter()  # events of another schema, by schema
    unreadable: list[tuple[Any, str]] = []  # the first records that are no alert event, and why
    left_out = 0
    judged = RetrainerKeeps()
    for msg in alerts:
        event = None
        try:
            event = alert_document(msg.value)
            if not is_schema_1(event):  # an incompatible change of the contract, which a later release reads
                schema = orjson.dumps(event.get("schema")).decode()[:20]
                others[schema] += 1
                if unread is not None and isinstance(event.get("alert_id"), str):
                    unread[event["alert_id"]] = schema
                if later_assets is not None and isinstance(event.get("asset_id"), str):
                    later_assets[event["asset_id"]] = schema
                continue
            alert_id = event["alert_id"]
            if (why := id_refusal(alert_id)) is not None:  # the retrainer refuses it: no label could join it
                raise ValueError(why)
            if event.get("state") == "resolved":  # checked before anything of it is kept
                ends = {"ts": event["ts"], "latest_ts": event.get("latest_ts")}
                latest = max(event_time(t, name) for name, t in ends.items() if t is not None)
            episode = episodes.get(alert_id)
            if episode is None or (event.get("state") == "open" and episode.open_lost):
                fresh = Episode.from_event(event)
                if episode is not None:  # its resolution was read first (from another partition)
                    fresh.resolved_at, fresh.resolved_by = episode.resolved_at, episode.resolved_by
                episodes[alert_id] = fresh
            if event.get("state") == "open":
                opened.add(alert_id)
            if event.get("state") == "resolved":
                # Where the label store ends it: its latest reading's time, never before it opened
                # (readings are not always dated in order: its last one may be dated earlier).
                episodes[alert_id].resolved_at = max(latest, episodes[alert_id].opened_at)
                episodes[alert_id].resolved_by = event.get("resolved_by")
            judged.read(alert_id, event)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # No alert event (the daemon writes none such): counted and said, never passed over unsaid,
            # as it may be an alert an operator must see.
            left_out += 1
            if len(unreadable) < _NAMED:
                unreadable.append((msg, why_unreadable(exc, event)))
    for alert_id, episode in episodes.items():
        episode.unlabellable = judged.refusal(alert_id)
    if others and say is not None:
        say(other_schema_note(others, settings.kafka.topics.alerts))
    if left_out and say is not None:
        say(unreadable_note(unreadable, left_out, settings.kafka.topics.alerts))
    if since is not None:
        episodes = {k: e for k, e in episodes.items() if k in opened and e.opened_at >= since}
    if only is not None and only not in episodes:
        return episodes
    # A label by reading joins the alert that opened on that reading, as in the label store.
    by_asset: dict[str, list[tuple[str, float]]] = {}
    for episode in (e for e in episodes.values() if e.unlabellable is None):  # the retrainer keeps those
        by_asset.setdefault(episode.asset_id, []).append((episode.alert_id, episode.opened_at))
    came: dict[str, list[tuple[Source, float, Answer, dict[str, Any]]]] = {}
    most, contract = settings.retrain.max_label_bytes, settings.records  # as the retrainer judges them
    fits: dict[str, Any] = {"asset_pattern": contract.asset_id_pattern, "max_future_s": contract.max_future_s}
    early = None if since is None else labels_from(since, settings)  # labels written before their alert
    try:
        records = _as_they_came(labels(early))
    except TopicMissingError:
        records = []  # no label yet: the retrainer, or the first `label`, creates the topic
        if episodes and only is None and say is not None:  # or the topic is misnamed: LABEL would not say
            say(
                f"the labels topic {settings.kafka.topics.labels!r} (kafka.topics.labels) is not on Kafka: "
                "no episode is shown labelled; the retrainer, or the first `dhag-pipeline label`, creates it "
                "(check kafka.topics.labels if alerts were labelled)"
            )
    for msg in records:
        try:
            # Its times are judged against when it was written to Kafka, not this host's clock: a
            # host whose clock is behind would hide every fresh label.
            label = parse_label(msg.value, max_bytes=most, now=_written_at(msg), **fits)
        except LabelError:
            continue  # the retrainer dead-letters it
        alert_id = label.alert_id
        if alert_id is None and label.asset_id is not None:
            alert_id = opened_on(label.ts, by_asset.get(label.asset_id, ()))
        if alert_id in episodes and episodes[alert_id].unlabellable is None:  # else dead-lettered
            # A label by reading without labelled_at ranks by when it came (the store's clock then;
            # here, when it was written to Kafka), and has no time of its own to tell a copy by.
            stamped = label.by_alert or label.labelled_at is not None
            written = _written_at(msg)
            if stamped:  # no earlier than a margin before it reached Kafka, as the label store ranks it
                given = given_rank(label.given_at, written)
            else:
                given = written if math.isfinite(written) else label.given_at
            answer = Answer(label.operator, label.label, given if stamped else None, label.label_id)
            place = Source(msg.topic, msg.partition, msg.offset)
            came.setdefault(alert_id, []).append((place, given, answer, label.as_json()))
    for alert_id, answers in came.items():
        episodes[alert_id].labels = _once(answers)
    return episodes
