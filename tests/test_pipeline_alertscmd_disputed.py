"""``dhag-pipeline alerts`` marks a disputed label: operators whose latest answers about one alert differ
(the table's LABEL says who disagrees with the label that counts; ``--json`` names them in
``disputed_by``). One operator correcting their own answer, or one who came round to the other's, is no
dispute (no broker needed)."""

from __future__ import annotations

import argparse
import io
import json
from types import SimpleNamespace

import orjson
import pytest
from labels_support import open_alert

from pipeline import alertscmd
from pipeline.config import Settings

T = 1.8e9


def _alerts(monkeypatch: pytest.MonkeyPatch, answers: list[tuple[str, str]], *, as_json: bool) -> str:
    """``alerts`` of one alert ``a1`` given ``answers`` (operator, label), a minute apart."""
    alert = SimpleNamespace(
        topic="anomaly-alerts", partition=0, offset=0, value=orjson.dumps(open_alert("a1", T, {"x": 1.0})),
        timestamp=int(T * 1000),
    )  # fmt: skip
    labels = [
        SimpleNamespace(
            topic="operator-labels",
            partition=0,
            offset=i,
            timestamp=int((T + 60 * (i + 1)) * 1000),
            value=orjson.dumps(
                {"schema": 1, "alert_id": "a1", "label": label, "operator": who, "ts": T + 60 * (i + 1)}
            ),
        )  # fmt: skip
        for i, (who, label) in enumerate(answers)
    ]
    topics = {"anomaly-alerts": [alert], "operator-labels": labels}
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_, **__: topics[topic])
    args = argparse.Namespace(open=False, asset=None, limit=20, json=as_json, bootstrap="k:9092", since=None)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out=out, err=err) == 0, err.getvalue()
    return out.getvalue()


def _label_cell(table: str) -> str:
    header, row = table.splitlines()
    return row[header.index("LABEL") :]


def test_two_operators_answering_differently_is_marked_in_the_table_and_the_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before, the table said "normal (lee)" alone: nothing showed that kim had confirmed the alert, and
    # the retrainer trained on lee's answer.
    answers = [("kim", "anomaly"), ("lee", "normal")]
    assert _label_cell(_alerts(monkeypatch, answers, as_json=False)) == "normal (lee), disputed by kim"
    (episode,) = map(json.loads, _alerts(monkeypatch, answers, as_json=True).splitlines())
    assert episode["label"]["operator"] == "lee" and episode["disputed_by"] == ["kim"]


def test_several_who_disagree_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [("kim", "anomaly"), ("joe", "anomaly"), ("ann", "anomaly"), ("lee", "normal")]
    assert _label_cell(_alerts(monkeypatch, answers, as_json=False)) == "normal (lee), disputed by kim +2"
    (episode,) = map(json.loads, _alerts(monkeypatch, answers, as_json=True).splitlines())
    assert episode["disputed_by"] == ["kim", "joe", "ann"]


@pytest.mark.parametrize(
    "answers",
    [
        [("kim", "anomaly"), ("kim", "normal")],  # kim corrected their own answer
        [("kim", "anomaly"), ("lee", "normal"), ("kim", "normal")],  # kim came round to lee's
        [("kim", "anomaly"), ("lee", "anomaly")],  # they agree
    ],
)
def test_no_dispute_is_marked_where_the_latest_answers_agree(
    monkeypatch: pytest.MonkeyPatch, answers: list[tuple[str, str]]
) -> None:
    cell = _label_cell(_alerts(monkeypatch, answers, as_json=False))
    assert cell == f"{answers[-1][1]} ({answers[-1][0]})"
    (episode,) = map(json.loads, _alerts(monkeypatch, answers, as_json=True).splitlines())
    assert episode["disputed_by"] == []
