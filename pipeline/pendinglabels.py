"""The label store's labels waiting for their alert (the ``pending`` table): a label naming an alert not
seen yet is kept with its original bytes and Kafka position until the alert arrives or the retry window
ends (:class:`~pipeline.labelstore.LabelStore` is the whole store).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pipeline.labels import Source

__all__ = ["PendingLabel", "PendingLabels"]


@dataclass(frozen=True)
class PendingLabel:
    """A label waiting for its alert: original bytes, Kafka position, when it was first seen."""

    source: str
    alert_id: str
    raw: bytes
    first_seen: float


class PendingLabels:
    """Labels waiting for their alert, by Kafka position."""

    _db: sqlite3.Connection

    def add_pending(self, alert_id: str, raw: bytes, source: Source, *, first_seen: float) -> None:
        """Keep a label whose alert was not seen yet (idempotent per Kafka position)."""
        if self._recorded_before_digests("pending", source):
            return
        self._db.execute(
            "INSERT OR IGNORE INTO pending (source, alert_id, raw, first_seen) VALUES (?, ?, ?, ?)",
            (str(source), alert_id, raw, first_seen),
        )

    def _recorded_before_digests(self, table: str, source: Source) -> bool:
        """Whether this position is stored under its key from before keys had a digest (a replay)."""
        query = f"SELECT 1 FROM {table} WHERE source = ?"
        return bool(source.digest) and self._db.execute(query, (source.position,)).fetchone() is not None

    def pending(self) -> list[PendingLabel]:
        """Labels waiting for their alert, oldest first."""
        rows = self._db.execute(
            "SELECT source, alert_id, raw, first_seen FROM pending ORDER BY first_seen, rowid"
        )
        return [PendingLabel(s, a, bytes(r), float(f)) for s, a, r, f in rows.fetchall()]

    def drop_pending(self, source: str) -> None:
        """Forget a pending label (joined, or dead-lettered)."""
        self._db.execute("DELETE FROM pending WHERE source = ?", (source,))

    def pending_count(self) -> int:
        """Labels waiting for their alert."""
        return int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
