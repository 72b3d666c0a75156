"""Labels naming an alert the label store does not know yet (table ``pending``), kept with their original
bytes and Kafka position until the alert arrives or their wait ends (the retrainer then dead-letters
them: :mod:`pipeline.retrain.intake`).

What a poll looks at is what can have changed since the last one: the labels of the alerts that arrived
(:meth:`PendingLabels.take_arrived`, :meth:`PendingLabels.pending_of`) and those whose wait is over
(:meth:`PendingLabels.pending_between`, by the time they came), each read through an index; the whole
table only once after a start (:meth:`PendingLabels.pending_known`). The table holds at most as many
labels as its caller allows (``most`` of :meth:`PendingLabels.add_pending`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.labels import Source

__all__ = ["PendingLabel", "PendingLabels"]

_COLUMNS = "rowid, source, alert_id, raw, first_seen"


@dataclass(frozen=True)
class PendingLabel:
    """A label waiting for its alert: original bytes, Kafka position, when it was first seen."""

    source: str
    alert_id: str
    raw: bytes
    first_seen: float


class PendingLabels:
    """Labels waiting for their alert, by Kafka position (a mixin of
    :class:`~pipeline.labelstore.LabelStore`).

    Example
    -------
    >>> from pipeline.labelstore import LabelStore
    >>> store = LabelStore(":memory:")
    >>> [store.add_pending(f"a{i}", b"{}", Source("labels", 0, i), first_seen=i, most=2) for i in range(3)]
    [True, True, False]
    >>> _ = store.add_alert({"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 5.0})
    >>> store.take_arrived(), [p.source for p in store.pending_of(["a1"])]
    ({'a1'}, ['labels/0/1'])
    >>> [p.alert_id for p in store.pending_between(float("-inf"), 1.0, limit=10)]
    ['a0']
    """

    _db: sqlite3.Connection
    _arrived: set[str]  # alerts that arrived with labels waiting for them, since take_arrived
    _pending_n: int | None  # the table's rows, once counted

    def add_pending(
        self, alert_id: str, raw: bytes, source: Source, *, first_seen: float, most: int | None = None
    ) -> bool:
        """Keep a label whose alert was not seen yet (idempotent per Kafka position); False, keeping
        nothing, when ``most`` labels wait already and this one is not among them."""
        if self._recorded_before_digests("pending", source):
            return True
        if most is not None and self.pending_count() >= most:
            held = self._db.execute("SELECT 1 FROM pending WHERE source = ?", (str(source),)).fetchone()
            return held is not None
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO pending (source, alert_id, raw, first_seen) VALUES (?, ?, ?, ?)",
            (str(source), alert_id, raw, first_seen),
        )
        if self._pending_n is not None:
            self._pending_n += cursor.rowcount
        return True

    def waits(self, source: Source) -> bool:
        """Whether the label at ``source`` waits for its alert (kept under its key from before keys had
        a digest too)."""
        keys = (str(source), source.position)
        return self._db.execute("SELECT 1 FROM pending WHERE source IN (?, ?)", keys).fetchone() is not None

    def _recorded_before_digests(self, table: str, source: Source) -> bool:
        """Whether this position is stored under its key from before keys had a digest (a replay)."""
        query = f"SELECT 1 FROM {table} WHERE source = ?"
        return bool(source.digest) and self._db.execute(query, (source.position,)).fetchone() is not None

    def pending(self) -> list[PendingLabel]:
        """Labels waiting for their alert, oldest first (all of them: for tools and tests)."""
        return self._read("1 ORDER BY first_seen, rowid", ())

    def pending_known(self) -> list[PendingLabel]:
        """Labels waiting for an alert the store knows now (held, or forgotten with labels left:
        ``knows_alert``), oldest first. It looks at every pending label: once after a start."""
        return self._read(
            "EXISTS (SELECT 1 FROM alerts WHERE alerts.alert_id = pending.alert_id)"
            " OR EXISTS (SELECT 1 FROM labels WHERE labels.alert_id = pending.alert_id)"
            " ORDER BY first_seen, rowid",
            (),
        )

    def _arrives(self, alert_id: str) -> None:
        """Note that the store knows ``alert_id`` now (an alert recorded, or a label stored under its
        id), when labels wait for it."""
        if self._db.execute("SELECT 1 FROM pending WHERE alert_id = ?", (alert_id,)).fetchone():
            self._arrived.add(alert_id)

    def take_arrived(self) -> set[str]:
        """The alerts with labels waiting for them that the store came to know since the last call."""
        arrived, self._arrived = self._arrived, set()
        return arrived

    def pending_of(self, alert_ids: Iterable[str]) -> list[PendingLabel]:
        """The labels waiting for any of ``alert_ids``, oldest first."""
        rows: list[tuple[int, PendingLabel]] = []
        for alert_id in set(alert_ids):
            found = self._db.execute(f"SELECT {_COLUMNS} FROM pending WHERE alert_id = ?", (alert_id,))
            rows += [(r[0], _pending(r)) for r in found.fetchall()]
        return [p for _, p in sorted(rows, key=lambda row: (row[1].first_seen, row[0]))]

    def pending_between(self, after: float, before: float, *, limit: int) -> list[PendingLabel]:
        """At most ``limit`` labels first seen after ``after`` and before ``before``, oldest first."""
        return self._read(
            "first_seen > ? AND first_seen < ? ORDER BY first_seen, rowid LIMIT ?", (after, before, limit)
        )

    def _read(self, where: str, params: tuple[object, ...]) -> list[PendingLabel]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM pending WHERE {where}", params).fetchall()
        return [_pending(row) for row in rows]

    def drop_pending(self, source: str) -> None:
        """Forget a pending label (joined, or dead-lettered)."""
        cursor = self._db.execute("DELETE FROM pending WHERE source = ?", (source,))
        if self._pending_n is not None:
            self._pending_n -= cursor.rowcount

    def pending_count(self) -> int:
        """Labels waiting for their alert (counted once, then kept up to date)."""
        if self._pending_n is None:
            self._pending_n = int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
        return self._pending_n


def _pending(row: tuple[object, ...]) -> PendingLabel:
    _, source, alert_id, raw, first_seen = row
    return PendingLabel(str(source), str(alert_id), bytes(raw), float(first_seen))  # type: ignore[arg-type]
