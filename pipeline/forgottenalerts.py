"""Alerts the label store forgot (:meth:`~pipeline.normalsample.NormalSample.prune_alerts`, after
``retrain.alert_retention_s``) and the labels they left behind: those carry the alert's reading, so a
label by the alert's id that comes later joins them, as a label by that reading does
(:func:`~pipeline.readinglabels.target_of`): the newest answer about the reading counts, once.

The store keeps each forgotten alert's id with the reading it opened on (asset and time, the table
``forgotten``): a label by reading of it that comes when it left no label is stored under its id, for a
later label by id to join; and a label by id of one that left none is told from one of an alert never
seen (:meth:`ForgottenAlerts.forgotten`). It keeps them for as long again as the alert was kept
(``retrain.alert_retention_s``: :meth:`ForgottenAlerts.prune_forgotten`), then forgets the id too: a
label by reading of that reading is then the reading's, and one by the id is an unknown alert's (the
labels the alert left stay, and a label by its id or reading still joins those).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

__all__ = ["ForgottenAlerts"]


class ForgottenAlerts:
    """What a label by id finds of an alert the store forgot (a mixin of
    :class:`~pipeline.labelstore.LabelStore`).

    Example
    -------
    >>> from pipeline.labels import Label, Source
    >>> from pipeline.labelstore import LabelStore
    >>> store = LabelStore(":memory:")
    >>> for alert_id, opened in (("a1", 10.0), ("a2", 50.0)):
    ...     _ = store.add_alert({"alert_id": alert_id, "asset_id": "p1", "state": "open",
    ...                          "opened_at": opened, "values": {"x": opened}})
    >>> confirm = Label.model_validate({"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 20})
    >>> _ = store.add_label(confirm, Source("labels", 0, 0))
    >>> store.prune_alerts(seen_before=float("inf"), margin_s=0.0)  # a1 (a2 is p1's newest)
    1
    >>> store.has_alert("a1"), store.knows_alert("a1"), store.knows_alert("a9")
    (False, True, False)
    >>> reject = Label.model_validate({"alert_id": "a1", "label": "normal", "operator": "lee", "ts": 30})
    >>> store.add_label(reject, Source("labels", 0, 1))
    <Taken.CHANGED: 2>
    """

    _db: sqlite3.Connection

    def knows_alert(self, alert_id: str) -> bool:
        """Whether a label naming ``alert_id`` can be stored now: the alert is held, or the store forgot
        it and still holds the labels it left (else the label waits for it, as for an alert not seen)."""
        return self._target_of_alert(alert_id) is not None

    def forgotten(self, alert_id: str) -> tuple[str, float] | None:
        """``(asset_id, opened_at)`` of the reading ``alert_id`` opened on, when the store forgot it (None:
        held, or never seen; alerts forgotten before the store kept these are not known)."""
        row = self._db.execute(
            "SELECT asset_id, opened_at FROM forgotten WHERE alert_id = ?", (alert_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))

    def prune_forgotten(self, *, forgotten_before: float, now: float | None = None) -> int:
        """Forget the ids of the alerts forgotten before ``forgotten_before`` (the store's clock); returns
        how many. An id kept before the time of forgetting was (a store of layout version 3) counts as
        forgotten ``now`` (default: this machine's clock), so it is kept one period more."""
        self._db.execute(
            "UPDATE forgotten SET forgotten_at = ? WHERE forgotten_at IS NULL",
            (time.time() if now is None else now,),
        )
        cursor = self._db.execute("DELETE FROM forgotten WHERE forgotten_at < ?", (forgotten_before,))
        return cursor.rowcount

    def _target_of_alert(self, alert_id: str) -> dict[str, Any] | None:
        """``asset_id``, ``opened_at`` and ``values`` of the reading a label of ``alert_id`` is about: the
        alert's, while it is held; else that of the first label it left behind, when the store forgot it
        (None: nothing of it is held)."""
        row = self._db.execute(
            "SELECT asset_id, opened_at, values_json FROM alerts WHERE alert_id = ?", (alert_id,)
        ).fetchone()
        if row is None:
            row = self._db.execute(
                "SELECT asset_id, ts, values_json FROM labels WHERE alert_id = ? ORDER BY id LIMIT 1",
                (alert_id,),
            ).fetchone()
        if row is None:
            return None
        return {"asset_id": str(row[0]), "opened_at": float(row[1]), "values": json.loads(row[2])}
