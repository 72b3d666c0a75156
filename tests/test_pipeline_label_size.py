"""``label`` judges a label's size as the retrainer does, by ``retrain.max_label_bytes``: one the
retrainer would dead-letter as oversized is refused before anything is written, naming ``--note`` and
the setting; one it takes is written."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd
from pipeline.cli import _console_parser
from pipeline.config import Settings
from pipeline.labels import parse_label


class _Producer:
    sent: list[bytes] = []

    def __init__(self, **options: object) -> None:
        pass

    def send(self, topic: str, key: bytes, value: bytes) -> SimpleNamespace:
        self.sent.append(value)
        return SimpleNamespace(get=lambda timeout: None)

    def close(self, timeout: float) -> None:
        pass


def _label(monkeypatch: pytest.MonkeyPatch, max_label_bytes: int, note: str) -> tuple[int, str, str]:
    event = {"alert_id": "a1", "asset_id": "pump-07", "state": "open", "opened_at": 1.0, "ts": 1.0}
    topics = {"anomaly-alerts": [SimpleNamespace(value=orjson.dumps(event), timestamp=1000)]}
    monkeypatch.setattr(alertscmd, "read_topic", lambda b, topic, *_: topics.get(topic, []))
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", _Producer)
    _Producer.sent = []
    argv = ["label", "a1", "--normal", "--operator", "kim", "--note", note, "--bootstrap", "k:9092"]
    settings = Settings.model_validate({"retrain": {"max_label_bytes": max_label_bytes}})
    out, err = io.StringIO(), io.StringIO()
    code = alertscmd.run_label(settings, _console_parser().parse_args(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_label_over_the_retrainers_limit_is_refused_naming_the_note_and_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before, it was judged by the built-in 16 KiB: written, said labelled, and dead-lettered by the
    # retrainer (oversized) as the operator went on believing it counted.
    code, out, err = _label(monkeypatch, 1024, "x" * 2000)
    assert (code, out, _Producer.sent) == (2, "", [])
    assert re.search(r"with its --note 21\d\d bytes, more than 1024 \(retrain.max_label_bytes\)", err), err
    assert "no label was written" in err


def test_a_label_within_the_retrainers_limit_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _label(monkeypatch, 1024, "y" * 700)
    assert code == 0, err
    (raw,) = _Producer.sent
    assert parse_label(raw, max_bytes=1024).note == "y" * 700
    assert out.startswith("labelled alert a1 (pump-07, opened")
