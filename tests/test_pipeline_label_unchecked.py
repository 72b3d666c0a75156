"""``label --unchecked``: an alert aged off the alerts topic (its retention) that the retrainer still
keeps (``retrain.alert_retention_s``) is labelled without being looked for, saying on stderr that it was
not checked and that the retrainer dead-letters it if it does not know the alert either."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd
from pipeline.cli import _console_parser
from pipeline.config import Settings
from pipeline.labels import parse_label


class _Producer:
    sent: list[tuple[str, bytes, bytes]] = []

    def __init__(self, **options: object) -> None:
        pass

    def send(self, topic: str, key: bytes, value: bytes) -> SimpleNamespace:
        self.sent.append((topic, key, value))
        return SimpleNamespace(get=lambda timeout: None)

    def close(self, timeout: float) -> None:
        pass


def _label(monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, str, str]:
    """``label old-1 --anomaly`` where the alerts topic holds only ``a1``: what it exits with and says."""
    event = {"alert_id": "a1", "asset_id": "p", "state": "open", "opened_at": 1.0, "ts": 1.0}
    topics = {"anomaly-alerts": [SimpleNamespace(value=orjson.dumps(event), timestamp=1000)]}
    read: list[str] = []
    monkeypatch.setattr(
        alertscmd, "read_topic", lambda b, topic, *_: read.append(topic) or topics.get(topic, [])
    )
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", _Producer)
    _Producer.sent = []
    argv = ["label", "old-1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092", *extra]
    args = _console_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = alertscmd.run_label(Settings(), args, out, err)
    # Its newest alert events (all it holds), then everything again: no label, as the alert is not there.
    assert read == ([] if "--unchecked" in extra else ["anomaly-alerts"] * 2)
    return code, out.getvalue(), err.getvalue()


def test_an_alert_off_the_topic_is_refused_and_the_refusal_names_unchecked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = _label(monkeypatch)
    assert (code, out, _Producer.sent) == (2, "", [])
    assert "unknown alert 'old-1'" in err and "--unchecked labels it unchecked" in err


def test_unchecked_writes_the_label_without_reading_the_alerts_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, there was no way to label an alert the retrainer keeps for 90 days once the topic's
    # retention (often days) had dropped it.
    code, out, err = _label(monkeypatch, "--unchecked")
    assert code == 0, err
    ((topic, key, raw),) = _Producer.sent
    assert (topic, key) == ("operator-labels", b"old-1")
    label = parse_label(raw)
    assert (label.alert_id, label.label, label.operator) == ("old-1", "anomaly", "kim")
    assert out == "labelled alert old-1 (not checked) as anomaly by kim\n"
    assert err.startswith("not checked: alert 'old-1' was not looked for on the topic 'anomaly-alerts'")
    assert "for 90 days, retrain.alert_retention_s" in err
    assert "dead-letters the label to 'operator-labels.dlq' (dlq.reason unknown_alert)" in err


def test_the_warning_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.model_validate({"retrain": {"alert_retention_s": None}})
    assert "keeps alerts for good" in alertscmd.unchecked_warning("x", settings)
    args = argparse.Namespace(alert_id="x", anomaly=False, operator="kim", note=None, bootstrap="embedded")
    args.unchecked = True
    assert alertscmd.run_label(Settings(), args, io.StringIO(), io.StringIO()) == 2  # still needs an address
