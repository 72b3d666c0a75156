"""Data for the label store's, the retrainer's and the label console's tests: the open event of an
alert, and a producer that keeps the labels sent."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


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


class LabelProducer:
    """Stands in for the label console's KafkaProducer: each label sent is kept in ``sent`` (shared by
    every instance), and acknowledged at once."""

    sent: list[bytes] = []

    def __init__(self, **_: Any) -> None:
        pass

    def send(self, topic: str, *, key: bytes, value: bytes) -> Any:
        self.sent.append(value)
        return SimpleNamespace(get=lambda timeout: None)

    def close(self, timeout: float) -> None:
        pass
