"""The one-off merge of a label store written before layout version 3 (:mod:`pipeline.labelschema`).

Such a version stored a label by reading of the reading an alert it had forgotten opened on as that
reading's own, apart from the labels the alert left: both trained, contradictory data for one reading
counted twice. On the upgrade those labels join the forgotten alert's, as
:func:`~pipeline.readinglabels.target_of` stores such a label now: in the order they came, each checked
for a repeat of an earlier label (:func:`~pipeline.readinglabels.join_alert`); the newest answer about
the reading counts (:func:`~pipeline.labelorder.in_label_order`), once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from pipeline.labelorder import TS_TOLERANCE_S, reading_window
from pipeline.readinglabels import counted, join_alert, target_of

__all__ = ["Merged", "merge_forgotten_readings"]


@dataclass(frozen=True)
class Merged:
    """What :func:`merge_forgotten_readings` did: labels by reading joined, forgotten alerts they joined,
    joined labels found to repeat an earlier one, and readings whose answer that counts changed."""

    joined: int = 0
    alerts: int = 0
    repeats: int = 0
    changed: int = 0


def merge_forgotten_readings(db: sqlite3.Connection) -> Merged:
    """Join each label by reading stored apart from the labels of a forgotten alert (one no longer in
    ``alerts``) about the same reading to those, inside the caller's transaction.

    >>> from pipeline.labelschema import SCHEMA
    >>> db = sqlite3.connect(":memory:")
    >>> db.executescript(SCHEMA) and None
    >>> db.executemany(
    ...     "INSERT INTO labels (alert_id, asset_id, ts, values_json, label, operator, given_at,"
    ...     " received_at, source) VALUES (?, 'p1', 10.0, '{}', ?, ?, ?, ?, ?)",
    ...     [("a1", "anomaly", "kim", 20.0, 20.0, "labels/0/0"),
    ...      (None, "normal", "lee", 30.0, 30.0, "labels/1/0")],
    ... ) and None
    >>> merge_forgotten_readings(db)
    Merged(joined=1, alerts=1, repeats=0, changed=1)
    """
    candidates = db.execute(
        "SELECT r.id, r.asset_id, r.ts FROM labels AS r WHERE r.alert_id IS NULL AND EXISTS ("
        " SELECT 1 FROM labels AS l WHERE l.asset_id = r.asset_id AND l.ts BETWEEN r.ts - ? AND r.ts + ?"
        " AND l.alert_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM alerts WHERE alerts.alert_id = l.alert_id)) ORDER BY r.id",
        (TS_TOLERANCE_S, TS_TOLERANCE_S),
    ).fetchall()
    was: dict[str, str] = {}  # each forgotten alert joined: the answer that counted before
    joined = repeats = 0
    for label_id, asset_id, ts in candidates:
        (alert_id,) = db.execute("SELECT alert_id FROM labels WHERE id = ?", (label_id,)).fetchone()
        if alert_id is not None:  # joined with an earlier one of its reading
            continue
        target, _, whole = target_of(db, str(asset_id), float(ts), {})
        if target is None:
            continue
        by_alert = partial(counted, db)
        was.setdefault(target, _answer(by_alert("alert_id = ?", (target,))))
        joined += db.execute(
            "SELECT COUNT(*) FROM labels WHERE alert_id IS NULL AND asset_id = ? AND ts BETWEEN ? AND ?",
            (asset_id, *reading_window(float(ts))),
        ).fetchone()[0]  # what join_alert joins
        repeats += join_alert(db, target, str(asset_id), float(ts), whole, by_alert)
    changed = sum(_answer(counted(db, "alert_id = ?", (a,))) != label for a, label in was.items())
    return Merged(joined, len(was), repeats, changed)


def _answer(rows: Sequence[Sequence[Any]]) -> str | None:
    """The answer that counts among ``rows`` (:func:`~pipeline.readinglabels.counted`), None for none."""
    return str(rows[-1][1]) if rows else None
