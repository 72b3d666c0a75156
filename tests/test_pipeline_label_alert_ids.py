"""One rule for an alert's id (:mod:`pipeline.alertid`): the retrainer keeps the alert events whose id is
a printable string of 1 to 256 characters, ``alerts`` and ``label`` list only those, and a label may name
any of them. An alert listed can be labelled, and its label joins it in the label store rather than
being dead-lettered as naming an alert the retrainer never kept."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from labels_support import LabelProducer

from pipeline import alertscmd
from pipeline.config import Settings
from pipeline.labels import LabelError, parse_label
from pipeline.retrain.alertfeed import AlertEventError, alert_event_of


def _label(monkeypatch: pytest.MonkeyPatch, alert_id: Any, asked: str) -> tuple[int, str, str]:
    event = {"alert_id": alert_id, "asset_id": "pump-01", "state": "open", "opened_at": 1.8e9, "ts": 1.8e9}
    message = SimpleNamespace(value=orjson.dumps(event), timestamp=int(1.8e9 * 1000))
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_: [message] if "alert" in topic else [])
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *_: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", LabelProducer)
    LabelProducer.sent.clear()
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args([asked, "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"])
    out, err = io.StringIO(), io.StringIO()
    return alertscmd.run_label(Settings(), args, out, err), out.getvalue(), err.getvalue()


def _label_of(alert_id: str) -> bytes:
    return orjson.dumps({"alert_id": alert_id, "label": "anomaly", "operator": "kim", "ts": 1.8e9})


@pytest.mark.parametrize("alert_id", ["pump 07 #3", "Pumpe-7/Lager (außen)", "a" * 256])
def test_an_alert_the_retrainer_keeps_is_labelled_and_its_label_taken(
    monkeypatch: pytest.MonkeyPatch, alert_id: str
) -> None:
    # Before, `alerts` listed it and the retrainer kept it, but `label` refused its id (1 to 128 letters,
    # digits and . _ : / -), and a label another tool wrote for it was dead-lettered.
    assert alert_event_of(orjson.dumps({"alert_id": alert_id, "asset_id": "p1", "state": "open",
                                        "opened_at": 5, "ts": 5}))["alert_id"] == alert_id  # fmt: skip
    code, said, err = _label(monkeypatch, alert_id, alert_id)
    assert code == 0, err
    assert parse_label(LabelProducer.sent[-1]).alert_id == alert_id
    assert said.startswith(f"labelled alert {alert_id} (pump-01, opened ")


@pytest.mark.parametrize("alert_id", [42, True, "a" * 257])
def test_an_alert_the_retrainer_refuses_is_not_listed_nor_labelled_and_label_says_why(
    monkeypatch: pytest.MonkeyPatch, alert_id: Any
) -> None:
    # Before, an alert whose id is a number was listed as '42' and labelled; the retrainer had refused its
    # event, so the label waited for an alert it never kept and was dead-lettered.
    with pytest.raises(AlertEventError):
        alert_event_of(orjson.dumps({"alert_id": alert_id, "asset_id": "p1", "state": "open", "opened_at": 5,
                                     "ts": 5}))  # fmt: skip
    code, _, err = _label(monkeypatch, alert_id, str(alert_id)[:256])
    assert code == 2 and LabelProducer.sent == [], err
    assert f"alert_id must be a printable string of 1 to 256 characters, got {alert_id!r:.20}" in err, err


@pytest.mark.parametrize("alert_id", ["", "a\nb", "a\x1b[2J", "a\u200bb", "a" * 257])
def test_a_label_naming_an_id_no_alert_event_may_give_is_refused(alert_id: str) -> None:
    with pytest.raises(LabelError, match="alert_id: must be a printable string of 1 to 256 characters"):
        parse_label(_label_of(alert_id))


def test_label_refuses_up_front_an_id_the_retrainer_would_refuse_saying_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = _label(monkeypatch, "a1", "a" * 300)
    assert code == 2 and LabelProducer.sent == [], err
    rule = "the retrainer keeps it: a printable string of 1 to 256 characters (no control or line-break"
    assert err.startswith(
        "label refused: ALERT_ID must be an alert id as `dhag-pipeline alerts` lists it and "
    )
    assert rule in err and "got 'aaaa" in err and "(300 characters)" in err, err
