"""The retrainer's durable memory: one SQLite file (stdlib ``sqlite3``, WAL journal).

Tables:

* ``alerts``: every alert episode seen on ``anomaly-alerts`` (opening values, score, threshold, model
  version, the time span of its readings: start and resolution); the score, threshold and model are
  null for an episode known only from its resolved event (:meth:`LabelStore.add_alert`);
* ``labels``: every valid label ever received, never overwritten (the full history); the label that
  counts for an alert or a reading is the latest one (:func:`~pipeline.labelorder.in_label_order`); a
  label that repeats an earlier one (the same operator's same answer sent again) is kept marked as a
  repeat and counts nowhere (:mod:`pipeline.labelorder`);
* ``pending``: labels naming an alert not seen yet, with their original bytes and Kafka position, until
  the alert arrives or the retry window ends (then the caller dead-letters them), a bounded number
  (:mod:`pipeline.pendinglabels`);
* ``readings``: a bounded sample of readings, dense for the recent past and thinner further back;
  :meth:`LabelStore.normal_sample` leaves out those near an alert episode (unless an operator rejected
  the alert: its readings were normal operation), so retraining follows the plant's normal operation;
* ``forgotten``: the alerts :meth:`~pipeline.normalsample.NormalSample.prune_alerts` forgot, with the
  reading each opened on and when, for a while (:mod:`pipeline.forgottenalerts`);
* ``state``: small values such as the last label a run used.

Writes are idempotent per Kafka position and value (:class:`~pipeline.labels.Source`: a replay after
a restart adds nothing), and nothing is visible to a reader before :meth:`LabelStore.commit`, which
the retrainer calls before it commits its Kafka offsets.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.forgottenalerts import ForgottenAlerts
from pipeline.labelchanges import changes_made, log_changes
from pipeline.labelorder import Answer, Taken, compare, given_rank, in_label_order
from pipeline.labels import Label, Source
from pipeline.labelschema import prepare, refuse_other_than_a_file
from pipeline.latestlabels import LabelledReading, latest_labels
from pipeline.normalsample import NormalSample, Reading
from pipeline.pendinglabels import PendingLabel, PendingLabels
from pipeline.readinglabels import counted, join_alert, target_of

__all__ = [
    "AlertTaken",
    "LabelStore",
    "LabelledReading",
    "PendingLabel",
    "Reading",
    "Source",
    "Taken",
    "in_label_order",
]


# What an episode's open event tells that its resolved event does not: kept from the open event alone
# (null for an episode known only from its resolved event, which none of them is then, until it comes).
_OPENING_COLUMNS = ("score", "threshold", "model_version", "values_json")
_OPENING_KNOWN = "(score IS NOT NULL OR threshold IS NOT NULL OR model_version IS NOT NULL)"


@dataclass(frozen=True)
class AlertTaken:
    """How :meth:`LabelStore.add_alert` took an alert event: whether it opened a new episode, and how many
    labels of its reading that came before it were found to repeat an earlier one as they joined it."""

    new: bool
    repeats: int = 0


class LabelStore(NormalSample, PendingLabels, ForgottenAlerts):
    """The SQLite label store at ``path`` (created with its folder when missing).

    Example
    -------
    >>> store = LabelStore(":memory:")
    >>> store.add_alert({"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 10.0,
    ...                  "score": 0.9, "threshold": 0.5, "model_version": "v1", "values": {"x": 1.0}})
    AlertTaken(new=True, repeats=0)
    >>> lab = Label.model_validate({"alert_id": "a1", "label": "normal", "operator": "kim", "ts": 20})
    >>> store.add_label(lab, Source("labels", 0, 0))
    <Taken.NEW: 1>
    >>> [(r.alert_id, r.y) for r in store.latest_labels()]
    [('a1', 0)]
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            refuse_other_than_a_file(Path(self.path))
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._arrived, self._pending_n = set(), None  # PendingLabels
        self._arrived_committed: set[str] = set()  # _arrived at the last commit (rollback restores it)
        try:
            # First: a newer store, or a database that is no label store, is refused as it is (WAL
            # mode would already change its file).
            prepare(self._db, self.path)
        except BaseException:
            self._db.close()
            raise
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: commit() promises durability before the Kafka offsets behind it are committed; with WAL,
        # NORMAL may lose the last commits on a power loss. One fsync per poll is cheap.
        self._db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        """Commit and close the database."""
        self._db.commit()
        self._db.close()

    def commit(self) -> None:
        """Make every write so far durable (call before committing the Kafka offsets behind them)."""
        self._db.commit()
        self._arrived_committed = set(self._arrived)

    def rollback(self) -> None:
        """Undo every write since the last :meth:`commit` (a step that failed midway), and what this
        object noted of them: the alerts that arrived with labels waiting (as they were at the commit:
        one taken since waits again), the count of pending labels."""
        self._db.rollback()
        self._arrived, self._pending_n = set(self._arrived_committed), None

    # -- alerts ----------------------------------------------------------------------------------
    def add_alert(self, event: dict[str, Any]) -> AlertTaken:
        """Record an ``anomaly-alerts`` event (``open`` or ``resolved``); returns whether it is a new
        episode, and how many of the labels of its reading joining it were found to be repeats.

        An episode ends at the latest record time among its readings (``latest_ts``), at its last
        reading's (``ts``), and never before it opened: readings are not always dated in order (a
        device whose clock was reset dates one 1970, a gateway back-fills), and an end before the
        episode's readings would let its fault into the normal sample. For the same reason it starts at
        the earliest record time among its readings over the threshold (``earliest_ts``, which a
        resolved event names: a reading of the fault back-filled after the opening), never after it
        opened; at its opening for an event without one (an earlier daemon version's). A faulty reading
        dated far back (a reset clock) stretches the start back to it, as a back-filled one does.

        The opening score, threshold and model version are the open event's: a resolved event's score is
        the one under the threshold that ended the episode (its model, one swapped in since, maybe). An
        episode known only from its resolved event (the alerts topic's retention deleted the open event)
        keeps none (null, as ``dhag-pipeline alerts`` shows ``-``) until its open event comes, if ever.
        """
        alert_id = str(event["alert_id"])
        new = not self.has_alert(alert_id)
        opening = event.get("state") != "resolved"
        resolved = None
        if not opening:
            ends = (event["ts"], event.get("latest_ts"), event["opened_at"])
            resolved = max(float(t) for t in ends if t is not None)
        starts = (event.get("earliest_ts"), event["opened_at"])
        started = min(float(t) for t in starts if t is not None)
        self._db.execute(
            "INSERT INTO alerts (alert_id, asset_id, opened_at, started_at, resolved_at, score, threshold,"
            " model_version, values_json, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (alert_id) DO UPDATE SET resolved_at = COALESCE(excluded.resolved_at, resolved_at),"
            " started_at = MIN(COALESCE(started_at, excluded.started_at), excluded.started_at)"
            # An open event after the resolution tells what only it knows; a repeated one changes nothing.
            + "".join(
                f", {column} = CASE WHEN {_OPENING_KNOWN} OR NOT ? THEN {column} ELSE excluded.{column} END"
                for column in _OPENING_COLUMNS
            ),
            (
                alert_id,
                str(event["asset_id"]),
                float(event["opened_at"]),
                started,
                resolved,
                _float_or_none(event.get("score")) if opening else None,
                _float_or_none(event.get("threshold")) if opening else None,
                event.get("model_version") if opening else None,
                json.dumps(event.get("values") or {}),
                time.time(),
                *[opening] * len(_OPENING_COLUMNS),
            ),
        )
        # Labels of the opening reading that arrived before the alert join it now, as they would have.
        whole = event.get("values") or {}
        repeats = join_alert(
            self._db, alert_id, str(event["asset_id"]), float(event["opened_at"]), whole, self._counted
        )
        self._arrives(alert_id)  # labels waiting for it join it at the next retry
        return AlertTaken(new, repeats)

    def has_alert(self, alert_id: str) -> bool:
        """Whether the alert was seen."""
        row = self._db.execute("SELECT 1 FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
        return row is not None

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        """One alert's stored fields (``values`` decoded; ``started_at``: where its episode starts, see
        :meth:`add_alert`), or None."""
        row = self._db.execute(
            "SELECT alert_id, asset_id, opened_at, resolved_at, score, threshold, model_version,"
            " COALESCE(started_at, opened_at), values_json FROM alerts WHERE alert_id = ?",
            (alert_id,),
        ).fetchone()
        if row is None:
            return None
        keys = ("alert_id", "asset_id", "opened_at", "resolved_at", "score", "threshold", "model_version")
        fields = dict(zip(keys, row[:7], strict=True))
        return fields | {"started_at": row[7], "values": json.loads(row[8])}

    def episodes(self) -> list[tuple[str, float, float]]:
        """``(asset_id, opened_at, resolved_at)`` of every episode (an open one ends at +inf)."""
        rows = self._db.execute("SELECT asset_id, opened_at, resolved_at FROM alerts").fetchall()
        return [(a, float(o), float(r) if r is not None else float("inf")) for a, o, r in rows]

    # -- labels ----------------------------------------------------------------------------------
    def add_label(
        self,
        label: Label,
        source: Source,
        *,
        received_at: float | None = None,
        written_at: float | None = None,
        changes: list[str] | None = None,
    ) -> Taken:
        """Record a label whose target is known: its alert was seen, or it carries the reading itself.

        A label by reading joins the alert that opened on that reading, when there is one, or the labels
        of that reading an alert the store forgot left (:func:`~pipeline.readinglabels.target_of`); a
        label by id of a forgotten alert joins the labels it left (:mod:`pipeline.forgottenalerts`).
        Returns how it was taken (:class:`~pipeline.labelorder.Taken`): ``REPLAY`` (false) when this
        Kafka position was recorded before, ``REPEAT`` for one that repeats an earlier label (kept,
        counting nowhere), ``CHANGED`` when it replaces another answer as the one that counts, else
        ``NEW``. Each change of answer it makes (:func:`~pipeline.labelchanges.changes_made`: one ranking
        before the label that counts makes that one a change) is logged, and its new answer appended to
        ``changes``. Raises KeyError for a label naming an alert that was not seen (keep it with
        :meth:`add_pending`), or forgotten with no label left (:meth:`knows_alert`). ``written_at``: when
        its record was written to Kafka, which its given time ranks no earlier than a margin before
        (:func:`~pipeline.labelorder.given_rank`; stored as its ``given_at``).
        """
        if self._recorded_before_digests("labels", source):
            return Taken.REPLAY
        if label.alert_id is not None:
            alert = self._target_of_alert(label.alert_id)
            if alert is None:
                raise KeyError(label.alert_id)
            alert_id, asset_id = label.alert_id, alert["asset_id"]
            ts, values = alert["opened_at"], alert["values"]
        else:
            assert label.asset_id is not None and label.values is not None
            asset_id = label.asset_id
            alert_id, ts, values = target_of(self._db, asset_id, label.ts, label.values)
        received = time.time() if received_at is None else received_at
        # The label that arrived last counts (latest_labels), whatever time an operator's console put
        # on it. ``given_at`` is kept for the history: when the operator says it was given, or, from a
        # clock that is behind, the earliest its Kafka record lets it rank by (given_rank).
        stamped = label.by_alert or label.labelled_at is not None
        given = given_rank(label.given_at, written_at) if stamped else received
        by_alert = alert_id is not None
        where = "alert_id = ?" if by_alert else "alert_id IS NULL AND asset_id = ? AND ts = ?"
        target = (where, (alert_id,) if by_alert else (asset_id, float(ts)))
        answer = Answer(label.operator, label.label, given if stamped else None, label.label_id)
        repeat_of, _ = compare(answer, self._counted(*target))  # by reading: no time of its own
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO labels (alert_id, asset_id, ts, values_json, label, operator, note,"
            " given_at, received_at, source, repeat_of, sent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (alert_id, asset_id, float(ts), json.dumps(values), label.label, label.operator, label.note,
             given, received, str(source), repeat_of, label.label_id),
        )  # fmt: skip
        if cursor.rowcount != 1:
            return Taken.REPLAY
        if by_alert:  # a label by reading stored under a forgotten alert's id makes that alert known
            self._arrives(alert_id)
        if repeat_of is not None:
            return Taken.REPEAT
        made = changes_made(rows := self._counted(*target), row_id := int(cursor.lastrowid or 0))
        news = log_changes(f"alert {alert_id}" if by_alert else f"reading {asset_id}@{float(ts)!r}", made)
        if changes is not None:
            changes.extend(news)
        return Taken.CHANGED if made and rows[-1][0] == row_id else Taken.NEW

    def _counted(self, where: str, params: tuple[Any, ...]) -> list[Sequence[Any]]:
        """The labels (not repeats) of one alert or reading, oldest first (:func:`counted`)."""
        return counted(self._db, where, params)

    def history(self, alert_id: str) -> list[dict[str, Any]]:
        """Every label of an alert, oldest first (:func:`in_label_order`; the last is the one that counts),
        with ``repeats``: how many times it came again (repeats are not listed on their own)."""
        keys = ("id", "label", "operator", "note", "given_at", "received_at")
        again = dict(
            self._db.execute(
                "SELECT repeat_of, COUNT(*) FROM labels WHERE alert_id = ? AND repeat_of IS NOT NULL"
                " GROUP BY repeat_of",
                (alert_id,),
            ).fetchall()
        )
        return [
            dict(zip(keys, row[:6], strict=True)) | {"repeats": again.get(row[0], 0)}
            for row in self._counted("alert_id = ?", (alert_id,))
        ]

    def latest_labels(self) -> list[LabelledReading]:
        """The label that counts per alert (or per reading without an alert), ordered by reading time
        (:func:`~pipeline.latestlabels.latest_labels`)."""
        return latest_labels(self._db)

    def last_received(self) -> float:
        """When the newest label was received, a label waiting for its alert included (``-inf`` when
        there is none)."""
        row = self._db.execute(
            "SELECT MAX(t) FROM (SELECT MAX(received_at) AS t FROM labels"
            " UNION ALL SELECT MAX(first_seen) FROM pending)"
        ).fetchone()
        return -math.inf if row[0] is None else float(row[0])

    def label_count(self, *, repeats: bool = False) -> int:
        """Labels received in all (the history, not only the latest per alert), repeats left out; with
        ``repeats``, the repeats alone."""
        query = f"SELECT COUNT(*) FROM labels WHERE repeat_of IS {'NOT ' if repeats else ''}NULL"
        return int(self._db.execute(query).fetchone()[0])

    def last_label_id(self) -> int:
        """The id of the newest label (0 when there is none)."""
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM labels").fetchone()[0])

    def labels_since(self, label_id: int) -> int:
        """Labels received after the label with id ``label_id`` (repeats left out)."""
        query = "SELECT COUNT(*) FROM labels WHERE id > ? AND repeat_of IS NULL"
        return int(self._db.execute(query, (label_id,)).fetchone()[0])

    # -- small state -----------------------------------------------------------------------------
    def get_state(self, key: str, default: str | None = None) -> str | None:
        """A stored value (``default`` when unset)."""
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_state(self, key: str, value: str) -> None:
        """Store a value."""
        self._db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def setdefault_state(self, key: str, value: str) -> str:
        """The stored value of ``key``; ``value``, stored and committed, when there is none."""
        stored = self.get_state(key)
        if stored is None:
            self.set_state(key, value)
            self.commit()
            return value
        return stored

    def counts(self) -> dict[str, int]:
        """Sizes of the tables (for logs and reports)."""
        return {
            "alerts": int(self._db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]),
            "labels": self.label_count(),
            "repeated_labels": self.label_count(repeats=True),
            "pending": self.pending_count(),
            "readings": self.reading_count(),
        }


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
