"""A label's given time from a console whose clock is behind ranks no earlier than its Kafka record time
less :data:`~pipeline.labels.MAX_CLOCK_SKEW_S`, in the label store and in ``dhag-pipeline alerts``
alike (no broker needed)."""

from __future__ import annotations

import logging
from collections import namedtuple
from types import SimpleNamespace

import orjson
import pytest
from labels_support import open_alert
from test_pipeline_retrain_intake import _Intake

from pipeline import alertscmd
from pipeline.config import Settings
from pipeline.labelstore import LabelStore

T = 1_700_000_000.0  # the alert opens then
Msg = namedtuple("Msg", "topic partition offset key value timestamp")


def _labels(lee_behind_s: float, lee_written: float = T + 1200.0) -> list[Msg]:
    """kim confirms by reading ten minutes after the alert opened (partition 1); lee rejects by id,
    written to Kafka at ``lee_written`` (partition 0), from a console whose clock is ``lee_behind_s``
    behind: its Kafka time is right (a server's producer, or a topic that keeps the broker's time)."""
    kim = {"asset_id": "p1", "ts": T, "values": {"x": 1.0}, "label": "anomaly", "operator": "kim",
           "labelled_at": T + 600.0}  # fmt: skip
    lee = {"alert_id": "a1", "label": "normal", "operator": "lee", "ts": lee_written - lee_behind_s}
    return [
        Msg("operator-labels", 1, 0, b"p1", orjson.dumps(kim), int((T + 600.0) * 1000)),
        Msg("operator-labels", 0, 0, b"a1", orjson.dumps(lee), int(lee_written * 1000)),
    ]


def _counting(messages: list[Msg]) -> tuple[str, list[dict]]:
    store = LabelStore(":memory:")
    store.add_alert(open_alert("a1", T, {"x": 1.0}))
    intake = _Intake(store)
    intake.clock = lambda: T + 1300.0
    intake._labels(messages, producer=None)
    [latest] = store.latest_labels()
    return latest.operator, store.history("a1")


def test_a_correction_from_a_console_hours_behind_counts_over_the_earlier_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before, lee's rejection ranked by the time its console put on it, three hours before kim's
    # confirmation was given, and kim's counted for good (in training too).
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        operator, history = _counting(_labels(lee_behind_s=3 * 3600.0))
    assert operator == "lee"
    assert [(h["operator"], h["given_at"]) for h in history] == [("kim", T + 600.0), ("lee", T + 900.0)]
    (warning,) = [r.getMessage() for r in caplog.records if "behind" in r.getMessage()]
    assert "lee" in warning and "operator-labels/0/0" in warning and "10800 s" in warning


def test_a_given_time_within_the_tolerance_ranks_as_given() -> None:
    # Given 250 s before it reached Kafka is within MAX_CLOCK_SKEW_S (300 s): a label may take that long
    # to get there, and kim's answer, given later by the operators' clocks, still counts.
    operator, history = _counting(_labels(lee_behind_s=250.0, lee_written=T + 800.0))
    assert operator == "kim"
    assert [(h["operator"], h["given_at"]) for h in history] == [("lee", T + 550.0), ("kim", T + 600.0)]


def test_alerts_shows_the_label_that_counts_by_the_same_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    alert = SimpleNamespace(
        topic="anomaly-alerts", partition=0, offset=0, timestamp=int(T * 1000),
        value=orjson.dumps({"schema": 1} | open_alert("a1", T, {"x": 1.0})),
    )  # fmt: skip

    def read(bootstrap: str, topic: str, *_: object) -> list:
        if topic == "anomaly-alerts":
            return [alert]
        return [SimpleNamespace(**m._asdict()) for m in _labels(lee_behind_s=3 * 3600.0)]

    monkeypatch.setattr(alertscmd, "read_topic", read)
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    assert episode.label is not None and episode.label["operator"] == "lee"
