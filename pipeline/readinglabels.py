"""Labels given by reading (``asset_id``, ``ts``, ``values``, no ``alert_id``) in the label store: the
alert one joins (the one that opened on its reading, or one the store forgot whose labels are about
it), the reading one is about while no alert opened on it, and their joining an alert that opens on
their reading later, by the rules of
:mod:`pipeline.labelorder` (:func:`~pipeline.labelorder.reading_window`,
:func:`~pipeline.labelorder.opened_on`), which ``dhag-pipeline alerts`` follows too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.labelorder import answer_of, compare, in_label_order, opened_on, reading_window

__all__ = ["alert_of", "counted", "join_alert", "reading_of", "target_of"]

#: ``LabelStore._counted``: the labels (not repeats) matching a WHERE clause, in the label store's order.
Counted = Callable[[str, tuple[Any, ...]], list[Sequence[Any]]]


def counted(db: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> list[Sequence[Any]]:
    """The labels (not repeats) matching ``where`` (one alert's or reading's), in
    :func:`~pipeline.labelorder.in_label_order`: ``(id, label, operator, note, given_at, received_at,
    source, sent_id)``."""
    rows = db.execute(
        "SELECT id, label, operator, note, given_at, received_at, source, sent_id FROM labels"
        f" WHERE {where} AND repeat_of IS NULL",
        params,
    ).fetchall()
    return in_label_order(rows, given=4, received=5, label_id=0, source=6)


def alert_of(db: sqlite3.Connection, asset_id: str, ts: float) -> str | None:
    """The alert that opened on the reading of ``asset_id`` at ``ts``, if any."""
    rows = db.execute(
        "SELECT alert_id, opened_at FROM alerts WHERE asset_id = ? AND opened_at BETWEEN ? AND ?"
        " ORDER BY rowid",
        (asset_id, *reading_window(ts)),
    ).fetchall()
    return opened_on(ts, ((str(a), float(o)) for a, o in rows))


def target_of(
    db: sqlite3.Connection, asset_id: str, ts: float, values: dict[str, Any]
) -> tuple[str | None, float, dict[str, Any]]:
    """Where a label by reading of ``asset_id`` at ``ts`` is stored: ``(alert_id, ts, values)``.

    It joins the alert that opened on that reading (:func:`alert_of`), with the whole reading the alert
    holds (the label may copy only a part); else the labels an alert the store forgot left behind
    (:meth:`~pipeline.normalsample.NormalSample.prune_alerts` keeps them, with their reading), so that
    the newest answer about that reading counts, once; else a forgotten alert that opened on it and left
    no label (:mod:`pipeline.forgottenalerts`), so that a label by its id joins this one; else it is the
    reading's (:func:`reading_of`).
    """
    alert_id = alert_of(db, asset_id, ts)
    if alert_id is not None:
        held = db.execute("SELECT values_json FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()[0]
        return alert_id, ts, json.loads(held) | values
    left = db.execute(
        "SELECT alert_id, values_json FROM labels WHERE asset_id = ? AND ts BETWEEN ? AND ?"
        " AND alert_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM alerts WHERE alerts.alert_id = labels.alert_id)"
        " ORDER BY ABS(ts - ?), id LIMIT 1",
        (asset_id, *reading_window(ts), ts),
    ).fetchone()
    if left is not None:
        return str(left[0]), ts, json.loads(left[1]) | values
    rows = db.execute(
        "SELECT alert_id, opened_at FROM forgotten WHERE asset_id = ? AND opened_at BETWEEN ? AND ?"
        " ORDER BY rowid",
        (asset_id, *reading_window(ts)),
    ).fetchall()
    forgotten = opened_on(ts, ((str(a), float(o)) for a, o in rows))
    if forgotten is not None:  # it left no label: this one keeps its id, for a label by id to join
        return forgotten, ts, values
    return None, reading_of(db, asset_id, ts), values


def reading_of(db: sqlite3.Connection, asset_id: str, ts: float) -> float:
    """The time a label of the reading of ``asset_id`` at ``ts`` that no alert opened on is stored under:
    that of a label of the same reading stored before (its time rendered a little apart, within
    :func:`~pipeline.labelorder.reading_window`; the nearest, the first stored of those as near), so that
    the two are one reading's, and a repeat is known as it comes; else ``ts``."""
    row = db.execute(
        "SELECT ts FROM labels WHERE alert_id IS NULL AND asset_id = ? AND ts BETWEEN ? AND ?"
        " ORDER BY ABS(ts - ?), id LIMIT 1",
        (asset_id, *reading_window(ts), ts),
    ).fetchone()
    return ts if row is None else float(row[0])


def join_alert(
    db: sqlite3.Connection,
    alert_id: str,
    asset_id: str,
    opened: float,
    whole: dict[str, Any],
    counted: Counted,
) -> int:
    """Join the labels of the reading an alert opened on that came before it; returns how many of them
    were found to repeat an earlier label as they joined.

    They join with the whole reading the alert holds (``whole``: a label may copy only the sensors its
    operator read), in the order they came, each checked as ``add_label`` checks one: its ts rendered
    apart, a label stored as another reading's may repeat an earlier one (it counts nowhere from then
    on, nor do its repeats).
    """
    joining = db.execute(
        "SELECT id, label, operator, note, given_at, received_at, source, sent_id, values_json, repeat_of"
        " FROM labels WHERE alert_id IS NULL AND asset_id = ? AND ts BETWEEN ? AND ? ORDER BY id",
        (asset_id, *reading_window(opened)),
    ).fetchall()
    repeats = 0
    for row in joining:
        before = counted("alert_id = ? AND id < ?", (alert_id, row[0]))
        repeat_of = None if row[9] is not None else compare(answer_of(row), before)[0]
        db.execute(
            "UPDATE labels SET alert_id = ?, values_json = ?, repeat_of = COALESCE(repeat_of, ?)"
            " WHERE id = ?",
            (alert_id, json.dumps(whole | json.loads(row[8])), repeat_of, row[0]),
        )
        if repeat_of is not None:
            repeats += 1
            db.execute("UPDATE labels SET repeat_of = ? WHERE repeat_of = ?", (repeat_of, row[0]))
    return repeats
