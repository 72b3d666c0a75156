"""Data for the label store's and the retrainer's label tests: the open event of an alert."""

from __future__ import annotations


def open_alert(alert_id: str, opened_at: float, values: dict[str, float]) -> dict:
    """The ``open`` event of alert ``alert_id`` on asset p1 (model v1, threshold 0.5, score 0.9), opened
    on the reading ``values`` at ``opened_at``, as the alerts topic carries it (less its ``schema``)."""
    return {
        "alert_id": alert_id,
        "asset_id": "p1",
        "state": "open",
        "opened_at": opened_at,
        "ts": opened_at,
        "score": 0.9,
        "threshold": 0.5,
        "model_version": "v1",
        "values": values,
    }
